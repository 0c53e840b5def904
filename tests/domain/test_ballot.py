"""Ballots: cast, change, retract, recast; events carry the tool and the choice replaced."""

from __future__ import annotations

import pytest

from domain.ballot import Ballot
from domain.errors import InvalidInput, UnknownBallot
from domain.ids import ballot_id


def test_first_vote_creates_the_ballot_of_that_voter_and_tool() -> None:
    """The ballot id depends only on (tool, voter): a second creation collides in the store."""
    ballot = Ballot.cast("example", "voter:v1", "ship")
    [event] = ballot.collect_events()
    assert isinstance(event, Ballot.Cast)
    assert event.originator_id == ballot_id("example", "voter:v1")
    assert (event.tool, event.choice, event.actor) == ("example", "ship", "voter:v1")


def test_every_ballot_event_names_the_tool_and_the_voter() -> None:
    """Cast, Changed, Retracted and Recast each carry the tool, the voter as actor, and the
    choice made and/or replaced: the community tally folds from these fields alone."""
    ballot = Ballot.cast("example", "voter:v1", "ship")
    assert (ballot.tool, ballot.voter, ballot.choice) == ("example", "voter:v1", "ship")
    ballot.vote("skip")
    ballot.retract()
    ballot.vote("ship")
    cast, changed, retracted, recast = ballot.collect_events()
    assert isinstance(cast, Ballot.Cast) and isinstance(changed, Ballot.Changed)
    assert isinstance(retracted, Ballot.Retracted) and isinstance(recast, Ballot.Recast)
    assert (cast.tool, cast.actor, cast.choice) == ("example", "voter:v1", "ship")
    assert (changed.tool, changed.actor, changed.choice, changed.previous) == (
        "example",
        "voter:v1",
        "skip",
        "ship",
    )
    assert (retracted.tool, retracted.actor, retracted.previous) == ("example", "voter:v1", "skip")
    assert (recast.tool, recast.actor, recast.choice) == ("example", "voter:v1", "ship")
    assert ballot.choice == "ship"


def test_a_vote_for_neither_choice_is_refused_naming_choice() -> None:
    """A later vote is checked like the first: field 'choice', nothing emitted."""
    ballot = Ballot.cast("example", "voter:v1", "ship")
    ballot.collect_events()
    with pytest.raises(InvalidInput) as error:
        ballot.vote("maybe")
    assert (error.value.field, error.value.detail) == ("choice", "choice: must be 'ship' or 'skip'")
    assert ballot.collect_events() == []


def test_retracting_no_vote_names_the_tool() -> None:
    """The refusal says which tool the voter has no vote on."""
    ballot = Ballot.cast("example", "voter:v1", "ship")
    ballot.retract()
    with pytest.raises(UnknownBallot) as error:
        ballot.retract()
    assert error.value.detail == "this voter has no current vote on 'example'"


def test_retracting_without_a_ballot_names_the_tool() -> None:
    """decide() refuses a retraction by a voter who never voted, naming the tool."""
    with pytest.raises(UnknownBallot) as error:
        Ballot.decide(None, "example", "voter:v1", None)
    assert error.value.detail == "this voter has no current vote on 'example'"


def test_a_cast_event_with_another_choice_makes_no_ballot() -> None:
    """A ballot's choice is checked when the ballot is made, even from an event that skipped
    cast() (a stored one replayed): anything but ship or skip is refused naming 'choice'."""
    with pytest.raises(InvalidInput) as error:
        Ballot._create(
            Ballot.Cast,
            id=ballot_id("example", "voter:v1"),
            tool="example",
            choice="maybe",
            actor="voter:v1",
            surface=None,
        )
    assert (error.value.field, error.value.detail) == ("choice", "choice: must be 'ship' or 'skip'")


def test_change_records_previous_choice() -> None:
    """Changing ship→skip emits Changed(choice=skip, previous=ship)."""
    ballot = Ballot.cast("example", "voter:v1", "ship")
    ballot.collect_events()
    assert ballot.vote("skip") is True
    [event] = ballot.collect_events()
    assert isinstance(event, Ballot.Changed)
    assert (event.choice, event.previous) == ("skip", "ship")


def test_same_choice_again_emits_nothing() -> None:
    """Voting the current choice again is a no-op."""
    ballot = Ballot.cast("example", "voter:v1", "ship")
    ballot.collect_events()
    assert ballot.vote("ship") is False
    assert ballot.collect_events() == []


def test_retract_then_recast() -> None:
    """Retracting records the withdrawn choice; a later vote is a Recast; retracting twice fails."""
    ballot = Ballot.cast("example", "voter:v1", "skip")
    ballot.collect_events()
    ballot.retract()
    with pytest.raises(UnknownBallot):
        ballot.retract()
    ballot.vote("ship")
    retracted, recast = ballot.collect_events()
    assert isinstance(retracted, Ballot.Retracted) and retracted.previous == "skip"
    assert isinstance(recast, Ballot.Recast) and recast.choice == "ship"


@pytest.mark.parametrize("choice", ["Ship", "abstain", ""])
def test_choice_is_ship_or_skip(choice: str) -> None:
    """Invalid choices are refused, naming the field 'choice'."""
    with pytest.raises(InvalidInput) as error:
        Ballot.cast("example", "voter:v1", choice)
    assert error.value.field == "choice"


def test_decide_applies_one_vote_and_names_what_it_did() -> None:
    """Given no ballot / a ballot, when votes and retractions arrive, then each says its outcome
    (cast, unchanged, changed, retracted, recast) and a retraction without a ballot is refused."""
    with pytest.raises(UnknownBallot):
        Ballot.decide(None, "example", "voter:v1", None)
    ballot, outcome = Ballot.decide(None, "example", "voter:v1", "ship")
    outcomes = [outcome]
    for choice in ("ship", "skip", None, "ship"):
        same, outcome = Ballot.decide(ballot, "example", "voter:v1", choice)
        assert same is ballot
        outcomes.append(outcome)
    assert outcomes == ["cast", "unchanged", "changed", "retracted", "recast"]
    kinds = [type(e).__name__ for e in ballot.collect_events()]
    assert kinds == ["Cast", "Changed", "Retracted", "Recast"]


def test_a_first_vote_records_its_surface() -> None:
    """The surface a first vote came from is on the Cast event and the ballot, through decide()
    too."""
    ballot, outcome = Ballot.decide(None, "example", "voter:v1", "ship", "page")
    [event] = ballot.collect_events()
    assert (outcome, event.surface, ballot.surface) == ("cast", "page", "page")
    ballot = Ballot.cast("example", "voter:v2", "skip", "api")
    [event] = ballot.collect_events()
    assert (event.surface, ballot.surface) == ("api", "api")
