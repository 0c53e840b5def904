"""A published side-by-side comparison of two listed tools."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from domain import rules
from domain.errors import InvalidInput, UnknownComparison
from domain.ids import comparison_id


class Comparison(Aggregate):
    class Published(Aggregate.Created):
        left: str
        right: str
        actor: str

    class Withdrawn(Aggregate.Event):
        left: str
        right: str
        reason: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            aggregate.withdrawn = True

    class Republished(Aggregate.Event):
        left: str
        right: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            aggregate.withdrawn = False

    def __init__(self, left: str, right: str, actor: str) -> None:
        self.left = left
        self.right = right
        self.withdrawn = False

    @classmethod
    def publish(cls, left: str, right: str, actor: str) -> Comparison:
        rules.slug(left, "left")
        rules.slug(right, "right")
        if left == right:
            raise InvalidInput("right", "a tool cannot be compared with itself")
        return cls._create(
            cls.Published,
            id=comparison_id(left, right),
            left=left,
            right=right,
            actor=rules.text("actor", actor),
        )

    def republish(self, actor: str) -> None:
        self.trigger_event(
            self.Republished, left=self.left, right=self.right, actor=rules.text("actor", actor)
        )

    def withdraw(self, reason: str, actor: str) -> None:
        if self.withdrawn:
            raise UnknownComparison(self.left, self.right)
        self.trigger_event(
            self.Withdrawn,
            left=self.left,
            right=self.right,
            **rules.because(reason, actor),
        )
