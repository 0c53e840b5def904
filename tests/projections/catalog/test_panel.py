"""The panel fold by example: whole verdict documents after publish, amend and retract."""

from __future__ import annotations

from typing import Any

from projections.catalog.panel import Seats, fold_seats, panel_figures, seats_from_figures
from projections.records import LedgerEvent

T1, T2, T3 = (f"2026-01-0{d}T00:00:00.000000+00:00" for d in (1, 2, 3))


def event(position: int, at: str, kind: str, **data: Any) -> LedgerEvent:
    return LedgerEvent(position, f"domain.panel:{kind}", kind, "panel-id", position, at, data)


def fold(*events: LedgerEvent) -> Seats:
    seats: Seats = {}
    for e in events:
        seats = fold_seats(seats, e)
    return seats


def published(position: int, at: str, seat: str, decision: str) -> LedgerEvent:
    return event(
        position,
        at,
        "Panel.VerdictPublished",
        tool="example",
        seat=seat,
        reviewer=f"{seat.title()} Reviewer",
        decision=decision,
        text=f"{seat} says {decision}",
        actor="editor:ann",
    )


AMENDED = event(
    9,
    T3,
    "Panel.VerdictAmended",
    tool="example",
    seat="builder",
    reviewer="New Reviewer",
    decision="skip",
    text="Pricing changed.",
    reason="price doubled",
    actor="editor:bob",
)


def test_a_published_verdict_is_its_whole_document() -> None:
    """Publishing fills the seat with the event's reviewer, decision and text, its time as both
    published_at and updated_at, revision 1 and the event's position."""
    seats = fold(event(1, T1, "Panel.Opened", tool="example", actor="editor:ann"))
    assert seats == {}
    seats = fold(published(3, T1, "builder", "ship"))
    assert panel_figures(seats) == {
        "ship": 1,
        "skip": 0,
        "total": 1,
        "ship_pct": 100,
        "verdicts": [
            {
                "seat": "builder",
                "reviewer": "Builder Reviewer",
                "decision": "ship",
                "text": "builder says ship",
                "published_at": T1,
                "updated_at": T1,
                "revision": 1,
                "position": 3,
            }
        ],
    }


def test_an_amended_verdict_keeps_its_place_and_publication_time() -> None:
    """An amendment replaces reviewer, decision and text, moves updated_at and position to the
    amendment's, adds one to the revision per amendment, and keeps published_at and the seat's
    place in the order; the other seat is untouched."""
    builder, skeptic = published(3, T1, "builder", "ship"), published(5, T2, "skeptic", "ship")
    seats = fold(builder, skeptic, AMENDED)
    assert panel_figures(seats) == {
        "ship": 1,
        "skip": 1,
        "total": 2,
        "ship_pct": 50,
        "verdicts": [
            {
                "seat": "builder",
                "reviewer": "New Reviewer",
                "decision": "skip",
                "text": "Pricing changed.",
                "published_at": T1,
                "updated_at": T3,
                "revision": 2,
                "position": 9,
            },
            panel_figures(fold(skeptic))["verdicts"][0],
        ],
    }
    again = AMENDED._replace(position=11, data={**AMENDED.data, "decision": "ship"})
    [twice, _] = panel_figures(fold_seats(seats, again))["verdicts"]
    assert (twice["revision"], twice["position"], twice["decision"]) == (3, 11, "ship")


def test_a_retracted_verdict_leaves_the_panel_and_its_denominator() -> None:
    """Retraction removes only that seat; republishing it starts at revision 1, last in order."""
    builder, skeptic = published(3, T1, "builder", "ship"), published(5, T2, "skeptic", "skip")
    retracted = event(
        7, T3, "Panel.VerdictRetracted", tool="example", seat="builder", reason="left", actor="e"
    )
    seats = fold(builder, skeptic, AMENDED._replace(position=6), retracted)
    assert panel_figures(seats) == {
        "ship": 0,
        "skip": 1,
        "total": 1,
        "ship_pct": 0,
        "verdicts": panel_figures(fold(skeptic))["verdicts"],
    }
    seats = fold_seats(seats, published(8, T3, "builder", "ship"))
    assert [(v["seat"], v["revision"]) for v in panel_figures(seats)["verdicts"]] == [
        ("skeptic", 1),
        ("builder", 1),
    ]
    assert fold(retracted) == {}


def test_figures_restore_the_seats_they_were_made_from() -> None:
    """seats_from_figures(panel_figures(s)) == s, order included (a stored view resumes)."""
    seats = fold(published(3, T1, "skeptic", "skip"), published(4, T2, "builder", "ship"), AMENDED)
    restored = seats_from_figures(panel_figures(seats))
    assert restored == seats
    assert list(restored) == ["skeptic", "builder"]
