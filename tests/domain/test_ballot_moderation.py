"""Moderation of a ballot: a moderator voids it (out of the tally, the voter refused) and may
restore it; each event names the tool, the voter, the choice it moves, the reason, the rule
and the moderator."""

from __future__ import annotations

import pytest

from domain.ballot import Ballot
from domain.errors import BallotNotVoided, BallotVoided, InvalidInput, UnknownBallot

MODERATOR = "moderator:mo"


def _ballot(choice: str = "ship") -> Ballot:
    ballot = Ballot.cast("example", "voter:v1", choice)
    ballot.collect_events()
    return ballot


def test_void_names_tool_voter_removed_choice_reason_rule_and_moderator() -> None:
    """Given a ship ballot, when a moderator voids it, then Voided carries what the tally loses."""
    ballot = _ballot("ship")
    ballot.void("stuffing from one address", "one-person-one-vote", MODERATOR)
    [event] = ballot.collect_events()
    assert isinstance(event, Ballot.Voided)
    assert (event.tool, event.voter, event.previous) == ("example", "voter:v1", "ship")
    assert (event.reason, event.rule, event.actor) == (
        "stuffing from one address",
        "one-person-one-vote",
        MODERATOR,
    )
    assert ballot.voided is True


def test_restore_gives_the_voided_choice_back() -> None:
    """Given a voided skip ballot, when it is restored, then Restored carries the choice back."""
    ballot = _ballot("skip")
    ballot.void("stuffing", "rule-1", MODERATOR)
    ballot.restore("false positive", "rule-1", MODERATOR)
    _, event = ballot.collect_events()
    assert isinstance(event, Ballot.Restored)
    assert (event.tool, event.voter, event.choice) == ("example", "voter:v1", "skip")
    assert (event.reason, event.rule, event.actor) == ("false positive", "rule-1", MODERATOR)
    assert ballot.voided is False


def test_voiding_twice_or_restoring_a_counted_ballot_is_refused() -> None:
    """An already voided ballot cannot be voided again; a counted one cannot be restored."""
    ballot = _ballot()
    assert ballot.voided is False
    with pytest.raises(BallotNotVoided) as not_voided:
        ballot.restore("why", "rule", MODERATOR)
    assert not_voided.value.detail == (
        "this ballot on 'example' is not voided; there is nothing to restore"
    )
    ballot.void("why", "rule", MODERATOR)
    with pytest.raises(BallotVoided) as voided:
        ballot.void("why", "rule", MODERATOR)
    assert voided.value.detail == "a moderator voided this ballot on 'example'; it is not counted"
    assert len(ballot.collect_events()) == 1


def test_a_retracted_ballot_has_nothing_to_void() -> None:
    """A ballot without a current vote is not in the tally: voiding it is refused (404)."""
    ballot = _ballot()
    ballot.retract()
    ballot.collect_events()
    with pytest.raises(UnknownBallot) as error:
        ballot.void("why", "rule", MODERATOR)
    assert error.value.detail == "this voter has no current vote on 'example'"
    assert ballot.collect_events() == []


@pytest.mark.parametrize(("field", "reason", "rule"), [("reason", " ", "r"), ("rule", "why", "")])
def test_void_needs_a_reason_and_a_rule(field: str, reason: str, rule: str) -> None:
    """A void without a reason or a rule is refused, naming the field, and emits nothing."""
    ballot = _ballot()
    with pytest.raises(InvalidInput) as error:
        ballot.void(reason, rule, MODERATOR)
    assert error.value.field == field
    assert ballot.collect_events() == []


def test_a_voided_voter_cannot_vote_or_retract_until_restored() -> None:
    """Given a voided ballot, when its voter votes or retracts, then 409 (BallotVoided); after a
    restore the vote counts again."""
    ballot = _ballot("ship")
    ballot.void("stuffing", "rule", MODERATOR)
    ballot.collect_events()
    for choice in ("skip", "ship", None):
        with pytest.raises(BallotVoided) as error:
            Ballot.decide(ballot, "example", "voter:v1", choice)
        assert error.value.type == "ballot-voided"
        assert error.value.detail == (
            "a moderator voided this ballot on 'example'; it is not counted"
        )
    assert ballot.collect_events() == []
    ballot.restore("ok", "rule", MODERATOR)
    assert Ballot.decide(ballot, "example", "voter:v1", "skip")[1] == "changed"
