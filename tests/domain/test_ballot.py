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
