"""Group commit on a real store (SQLite and PostgreSQL): a batch of votes is one transaction with
the semantics of single writes; a conflict inside a batch fails none of the others."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.application import Ledger
from domain.ballot import Ballot
from domain.errors import UnknownBallot, UnknownTool
from domain.group_commit import _Vote
from domain.settings import Settings
from projections.rebuild import read_events
from tests.builders import list_tools


class RacedLedger(Ledger):
    """A ledger whose first look-up of voter `racer` is overtaken by another process's vote:
    it sees no ballot, while the store already holds one (a real conflict on save)."""

    name = "Ledger"  # the store's tables are named after the application
    rival: Ledger

    def find_ballot(self, slug: str, voter: str) -> Ballot | None:
        if voter == "voter:racer" and not getattr(self, "raced", False):
            self.raced = True
            self.rival.cast_vote(slug, voter, "skip")
            return None
        return super().find_ballot(slug, voter)


@pytest.fixture
def raced(settings: Settings) -> Iterator[RacedLedger]:
    ledger = RacedLedger(settings)
    ledger.rival = Ledger(settings.model_copy(update={"group_commit": False}))
    yield ledger
    ledger.rival.close()
    ledger.close()


def commit(ledger: Ledger, *votes: tuple[str, str, str | None]) -> list[_Vote]:
    """Run one batch through the writer, as the writer thread would."""
    assert ledger.ballots is not None
    batch = [_Vote(slug, voter, choice) for slug, voter, choice in votes]
    ledger.ballots._commit(batch)
    return batch


def test_votes_on_one_ballot_in_one_batch_apply_in_order(settings: Settings) -> None:
    """cast, change, retract, recast in one batch: four events, four outcomes, one save."""
    ledger = Ledger(settings)
    try:
        list_tools(ledger, "alpha")
        before = ledger.recorder.max_notification_id() or 0
        batch = commit(
            ledger,
            ("alpha", "voter:v", "ship"),
            ("alpha", "voter:v", "skip"),
            ("alpha", "voter:v", None),
            ("alpha", "voter:v", "ship"),
            ("alpha", "voter:v", "ship"),
        )
        receipts = [vote.done.result(timeout=5) for vote in batch]
        assert [r.outcome for r in receipts] == [
            "cast",
            "changed",
            "retracted",
            "recast",
            "unchanged",
        ]
        positions = [r.position for r in receipts]
        assert positions[:4] == [before + 1, before + 2, before + 3, before + 4]
        assert positions[4] is None
        kinds = [e.kind for e in read_events(ledger.recorder, before)]
        assert kinds == ["Ballot.Cast", "Ballot.Changed", "Ballot.Retracted", "Ballot.Recast"]
    finally:
        ledger.close()


def test_refused_votes_fail_alone(settings: Settings) -> None:
    """An unknown tool and a retraction without a ballot are refused; the rest is stored."""
    ledger = Ledger(settings)
    try:
        list_tools(ledger, "alpha")
        batch = commit(
            ledger,
            ("ghost", "voter:a", "ship"),
            ("alpha", "voter:a", "ship"),
            ("alpha", "voter:b", None),
            ("alpha", "voter:b", "skip"),
        )
        with pytest.raises(UnknownTool):
            batch[0].done.result(timeout=5)
        with pytest.raises(UnknownBallot):
            batch[2].done.result(timeout=5)
        assert [batch[i].done.result(timeout=5).outcome for i in (1, 3)] == ["cast", "cast"]
        casts = [e for e in read_events(ledger.recorder) if e.kind == "Ballot.Cast"]
        assert sorted(e.data["actor"] for e in casts) == ["voter:a", "voter:b"]
    finally:
        ledger.close()


def test_a_conflict_in_a_batch_fails_none_of_the_others(raced: RacedLedger) -> None:
    """Another process writes one ballot of the batch first: the save conflicts, every vote is
    then written alone, and each voter's ballot is stored exactly once."""
    list_tools(raced, "alpha")
    batch = commit(
        raced,
        ("alpha", "voter:a", "ship"),
        ("alpha", "voter:racer", "ship"),
        ("alpha", "voter:b", "skip"),
    )
    outcomes = [vote.done.result(timeout=5).outcome for vote in batch]
    assert outcomes == ["cast", "changed", "cast"]
    ballots = [e for e in read_events(raced.recorder) if e.kind.startswith("Ballot.")]
    assert sorted((e.data["actor"], e.kind) for e in ballots) == [
        ("voter:a", "Ballot.Cast"),
        ("voter:b", "Ballot.Cast"),
        ("voter:racer", "Ballot.Cast"),
        ("voter:racer", "Ballot.Changed"),
    ]
    racer = raced.find_ballot("alpha", "voter:racer")
    assert racer is not None and racer.choice == "ship"
