"""Community tally: visitors' current ship/skip votes on one tool."""

from __future__ import annotations

from typing import Any, NamedTuple

from projections.percent import share
from projections.records import LedgerEvent


class Tally(NamedTuple):
    """Immutable (a named tuple: a replay makes one per ballot event, cheaply)."""

    ship: int = 0
    skip: int = 0

    @property
    def total(self) -> int:
        return self.ship + self.skip

    def figures(self) -> dict[str, Any]:
        return {
            "ship": self.ship,
            "skip": self.skip,
            "total": self.total,
            "ship_pct": share(self.ship, self.total),
        }

    def _add(self, choice: str, n: int) -> Tally:
        if choice == "ship":
            return Tally(self.ship + n, self.skip)
        return Tally(self.ship, self.skip + n)


def fold_tally(tally: Tally, event: LedgerEvent) -> Tally:
    """Ballot events carry the choice they replace, so no ballot needs remembering."""
    kind, data = event.kind, event.data
    if kind == "Ballot.Cast" or kind == "Ballot.Recast":
        return tally._add(data["choice"], 1)
    if kind == "Ballot.Changed":
        return tally._add(data["previous"], -1)._add(data["choice"], 1)
    if kind == "Ballot.Retracted":
        return tally._add(data["previous"], -1)
    return tally
