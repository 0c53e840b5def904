"""Community tally: visitors' current ship/skip votes on one tool, and how many ballots a
moderator voided (out of ship and skip, published beside them so no correction is silent)."""

from __future__ import annotations

from typing import Any, NamedTuple

from projections.catalog.percent import share
from projections.records import LedgerEvent


class Tally(NamedTuple):
    """Immutable (a named tuple: a replay makes one per ballot event, cheaply)."""

    ship: int = 0
    skip: int = 0
    voided: int = 0

    @property
    def total(self) -> int:
        return self.ship + self.skip

    def figures(self) -> dict[str, Any]:
        return {
            "ship": self.ship,
            "skip": self.skip,
            "total": self.total,
            "ship_pct": share(self.ship, self.total),
            "voided": self.voided,
        }


_new = tuple.__new__
"""Tally(...) without the named tuple's Python-level __new__: one per ballot event."""


def fold_tally(tally: Tally, event: LedgerEvent) -> Tally:
    """Ballot events carry the choice they replace, so no ballot needs remembering: a void
    removes its `previous` choice, a restore adds its `choice` back."""
    kind, data = event.kind, event.data
    ship, skip, voided = tally
    if kind == "Ballot.Cast" or kind == "Ballot.Recast":
        pass
    elif kind == "Ballot.Changed":
        if data["previous"] == "ship":
            ship -= 1
        else:
            skip -= 1
    elif kind == "Ballot.Retracted" or kind == "Ballot.Voided":
        voided += kind == "Ballot.Voided"
        if data["previous"] == "ship":
            return _new(Tally, (ship - 1, skip, voided))
        return _new(Tally, (ship, skip - 1, voided))
    elif kind == "Ballot.Restored":
        voided -= 1
    else:
        return tally
    if data["choice"] == "ship":
        return _new(Tally, (ship + 1, skip, voided))
    return _new(Tally, (ship, skip + 1, voided))
