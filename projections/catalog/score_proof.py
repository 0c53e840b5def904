"""Which events a tool's published figures rest on, at some log size: the current verdict of
each seat and the current ballot of each voter (a voided one does not count; a restored one
rests on its restore), each named by its leaf in the transparency log.
A fold over the tool's timeline points, so it reads the tool's own events, not the whole log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

CURRENT_VERDICT = ("Panel.VerdictPublished", "Panel.VerdictAmended")
CURRENT_BALLOT = ("Ballot.Cast", "Ballot.Changed", "Ballot.Recast")


@dataclass
class ScoreBasis:
    seats: dict[str, tuple[int, str]] = field(default_factory=dict)
    """seat -> (leaf index, decision) of its current verdict."""
    ballots: dict[str, tuple[int, str]] = field(default_factory=dict)
    """voter -> (leaf index, choice) of their current ballot."""
    voids: dict[str, int] = field(default_factory=dict)
    """voter -> leaf index of the void that keeps their ballot out of the tally."""
    last: dict[str, Any] | None = None
    """The last timeline point folded: its figures are the published ones."""

    def apply(self, point: dict[str, Any]) -> None:
        kind = point["kind"]
        if kind in CURRENT_VERDICT:
            self.seats[point["seat"]] = (point["leaf_index"], point["decision"])
        elif kind == "Panel.VerdictRetracted":
            self.seats.pop(point["seat"], None)
        elif kind in CURRENT_BALLOT:
            self.ballots[point["actor"]] = (point["leaf_index"], point["choice"])
        elif kind == "Ballot.Retracted":
            self.ballots.pop(point["actor"], None)
        elif kind == "Ballot.Voided":  # the actor is the moderator; the point names the voter
            self.ballots.pop(point["voter"], None)
            self.voids[point["voter"]] = point["leaf_index"]
        elif kind == "Ballot.Restored":
            self.voids.pop(point["voter"], None)
            self.ballots[point["voter"]] = (point["leaf_index"], point["choice"])
        self.last = point

    def document(self) -> dict[str, Any]:
        assert self.last is not None
        return {
            "panel": {
                **self.last["panel"],
                "verdicts": [
                    {"seat": seat, "decision": decision, "leaf_index": leaf}
                    for seat, (leaf, decision) in sorted(self.seats.items())
                ],
            },
            "community": {
                **self.last["community"],
                "ballots": sorted(
                    (
                        {"leaf_index": leaf, "choice": choice}
                        for leaf, choice in self.ballots.values()
                    ),
                    key=lambda b: b["leaf_index"],
                ),
                "voids": [{"leaf_index": leaf} for leaf in sorted(self.voids.values())],
            },
        }


def score_basis(points: Iterable[dict[str, Any]]) -> ScoreBasis:
    """Fold a tool's timeline points, oldest first."""
    basis = ScoreBasis()
    for point in points:
        basis.apply(point)
    return basis
