"""Panel verdicts of one tool: the current verdict in each seat and the panel ship %."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from projections.catalog.percent import share
from projections.records import LedgerEvent


@dataclass(frozen=True, slots=True)
class Verdict:
    seat: str
    reviewer: str
    decision: str
    text: str
    published_at: str
    updated_at: str
    revision: int
    """1 when published, +1 per amendment."""
    position: int
    """Log position of the event that produced this version."""


Seats = Mapping[str, Verdict]


def fold_seats(seats: Seats, event: LedgerEvent) -> Seats:
    """Retracted verdicts leave the panel (and the denominator)."""
    kind, data = event.kind, event.data
    if kind == "Panel.VerdictPublished":
        verdict = Verdict(
            seat=data["seat"],
            reviewer=data["reviewer"],
            decision=data["decision"],
            text=data["text"],
            published_at=event.timestamp,
            updated_at=event.timestamp,
            revision=1,
            position=event.position,
        )
        return {**seats, verdict.seat: verdict}
    if kind == "Panel.VerdictAmended":
        old = seats[data["seat"]]
        new = replace(
            old,
            reviewer=data["reviewer"],
            decision=data["decision"],
            text=data["text"],
            updated_at=event.timestamp,
            revision=old.revision + 1,
            position=event.position,
        )
        return {**seats, new.seat: new}
    if kind == "Panel.VerdictRetracted":
        return {seat: v for seat, v in seats.items() if seat != data["seat"]}
    return seats


def panel_counts(seats: Seats) -> dict[str, Any]:
    """The panel's published numbers: ship, skip, total and the ship percentage."""
    ship = sum(1 for v in seats.values() if v.decision == "ship")
    total = len(seats)
    return {"ship": ship, "skip": total - ship, "total": total, "ship_pct": share(ship, total)}


def panel_figures(seats: Seats) -> dict[str, Any]:
    """The numbers and the verdicts, in the order their seats were first filled (amendments
    keep their place)."""
    return {**panel_counts(seats), "verdicts": [_verdict_doc(v) for v in seats.values()]}


def _verdict_doc(v: Verdict) -> dict[str, Any]:
    return {
        "seat": v.seat,
        "reviewer": v.reviewer,
        "decision": v.decision,
        "text": v.text,
        "published_at": v.published_at,
        "updated_at": v.updated_at,
        "revision": v.revision,
        "position": v.position,
    }


def seats_from_figures(figures: dict[str, Any]) -> Seats:
    return {doc["seat"]: Verdict(**doc) for doc in figures["verdicts"]}
