"""A tool's expert panel: one verdict per seat; published, amended with a reason, retracted."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from eventsourcing.domain import Aggregate

from domain import rules
from domain.errors import InvalidInput, SeatAlreadyPublished, UnknownSeat
from domain.ids import panel_id


def _seat(panel: Any, event: Panel.VerdictPublished | Panel.VerdictAmended) -> None:
    """A publication and an amendment leave the seat holding the verdict the event carries."""
    panel.seats[event.seat] = {
        "reviewer": event.reviewer,
        "decision": event.decision,
        "text": event.text,
    }


class Panel(Aggregate):
    class Opened(Aggregate.Created):
        tool: str
        actor: str

    class VerdictPublished(Aggregate.Event):
        tool: str
        seat: str
        reviewer: str
        decision: str
        text: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            _seat(aggregate, self)

    class VerdictAmended(Aggregate.Event):
        """Carries the whole new verdict, so history and folds never reconstruct diffs."""

        tool: str
        seat: str
        reviewer: str
        decision: str
        text: str
        reason: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            _seat(aggregate, self)

    class VerdictRetracted(Aggregate.Event):
        tool: str
        seat: str
        reason: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            del aggregate.seats[self.seat]

    def __init__(self, tool: str, actor: str) -> None:
        self.tool = tool
        self.seats: dict[str, dict[str, str]] = {}

    @classmethod
    def open(cls, slug: str, actor: str) -> Panel:
        return cls._create(cls.Opened, id=panel_id(slug), tool=slug, actor=actor)

    def publish(
        self,
        seat: str,
        reviewer: str | None,
        decision: str | None,
        text: str | None,
        actor: str,
        *,
        seats: Collection[str] = rules.DEFAULT_SEATS,
    ) -> None:
        """Publish a verdict in an empty (or retracted) seat, one of the panel's `seats`. Amending
        and retracting take any seat that holds a verdict: stored history is never refused."""
        rules.panel_seat(seat, seats)
        reviewer = _required("reviewer", reviewer)
        decision = _required("decision", decision)
        text = _required("text", text)
        if seat in self.seats:
            raise SeatAlreadyPublished(self.tool, seat)
        self.trigger_event(
            self.VerdictPublished,
            tool=self.tool,
            seat=seat,
            reviewer=rules.text("reviewer", reviewer),
            decision=rules.decision(decision),
            text=rules.text("text", text),
            actor=rules.text("actor", actor),
        )

    def amend(
        self,
        seat: str,
        reviewer: str | None,
        decision: str | None,
        text: str | None,
        reason: str | None,
        actor: str,
    ) -> None:
        """Replace a current verdict, with a reason. What is left out (None) stays as it is; the
        event carries the whole new verdict. An amendment that changes nothing is refused."""
        current = self._current(seat)
        if reason is None or not reason.strip():
            raise InvalidInput("reason", "a reason is required when amending")
        new = {
            "reviewer": current["reviewer"]
            if reviewer is None
            else rules.text("reviewer", reviewer),
            "decision": current["decision"] if decision is None else rules.decision(decision),
            "text": current["text"] if text is None else rules.text("text", text),
        }
        if new == current:
            raise InvalidInput("decision", "the amendment changes nothing")
        self.trigger_event(
            self.VerdictAmended,
            tool=self.tool,
            seat=seat,
            **rules.because(reason, actor),
            **new,
        )

    def retract(self, seat: str, reason: str, actor: str) -> None:
        self._current(seat)
        self.trigger_event(
            self.VerdictRetracted,
            tool=self.tool,
            seat=seat,
            **rules.because(reason, actor),
        )

    def _current(self, seat: str) -> dict[str, str]:
        rules.seat(seat)
        try:
            return self.seats[seat]
        except KeyError:
            raise UnknownSeat(self.tool, seat) from None


def _required(field: str, value: str | None) -> str:
    if value is None:
        raise InvalidInput(field, "is required when publishing a verdict")
    return value
