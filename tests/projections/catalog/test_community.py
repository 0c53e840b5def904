"""The community tally by example: each ballot event moves exactly the counts it names."""

from __future__ import annotations

from typing import Any

import pytest

from projections.catalog.community import Tally, fold_tally
from projections.records import LedgerEvent


def ballot(kind: str, **data: Any) -> LedgerEvent:
    return LedgerEvent(1, f"domain.ballot:{kind}", kind, "b", 1, "2026-01-01", data)


@pytest.mark.parametrize(
    ("event", "after"),
    [
        (ballot("Ballot.Cast", tool="t", choice="ship", actor="v"), Tally(6, 3)),
        (ballot("Ballot.Cast", tool="t", choice="skip", actor="v"), Tally(5, 4)),
        (ballot("Ballot.Recast", tool="t", choice="ship", actor="v"), Tally(6, 3)),
        (ballot("Ballot.Recast", tool="t", choice="skip", actor="v"), Tally(5, 4)),
        (
            ballot("Ballot.Changed", tool="t", choice="skip", previous="ship", actor="v"),
            Tally(4, 4),
        ),
        (
            ballot("Ballot.Changed", tool="t", choice="ship", previous="skip", actor="v"),
            Tally(6, 2),
        ),
        (ballot("Ballot.Retracted", tool="t", previous="ship", actor="v"), Tally(4, 3)),
        (ballot("Ballot.Retracted", tool="t", previous="skip", actor="v"), Tally(5, 2)),
        (ballot("Ballot.Other", tool="t", choice="ship", previous="ship", actor="v"), Tally(5, 3)),
    ],
    ids=lambda v: getattr(v, "kind", ""),
)
def test_each_ballot_event_moves_the_counts_it_names(event: LedgerEvent, after: Tally) -> None:
    """From 5 ship / 3 skip: a vote adds one, a change moves one, a retraction removes one; an
    event the fold does not know leaves the tally as it was."""
    assert fold_tally(Tally(5, 3), event) == after


def test_figures_are_the_counts_total_and_rounded_share() -> None:
    """2 ship of 3 is 67%; no votes is None (shown as a dash); voided ballots are published
    beside the counts and count in neither."""
    assert Tally(2, 1).figures() == {
        "ship": 2, "skip": 1, "total": 3, "ship_pct": 67, "voided": 0
    }  # fmt: skip
    assert Tally().figures() == {"ship": 0, "skip": 0, "total": 0, "ship_pct": None, "voided": 0}
    assert Tally(1, 0, 4).figures() == {
        "ship": 1, "skip": 0, "total": 1, "ship_pct": 100, "voided": 4
    }  # fmt: skip
