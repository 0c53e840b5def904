"""One voter's ballot on one tool. Each event carries the tool and the choice it replaces, so the
community tally folds without remembering ballots: memory stays flat however many people vote."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from domain import rules
from domain.errors import UnknownBallot
from domain.ids import ballot_id


class Ballot(Aggregate):
    class Cast(Aggregate.Created):
        """The voter's first vote on this tool."""

        tool: str
        choice: str
        actor: str

    class Changed(Aggregate.Event):
        tool: str
        choice: str
        previous: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            aggregate.choice = self.choice

    class Retracted(Aggregate.Event):
        tool: str
        previous: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            aggregate.choice = None

    class Recast(Aggregate.Event):
        """A vote after a retraction."""

        tool: str
        choice: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            aggregate.choice = self.choice

    def __init__(self, tool: str, choice: str, actor: str) -> None:
        self.tool = tool
        self.voter = actor
        self.choice: rules.Decision | None = rules.decision(choice, "choice")

    @classmethod
    def decide(
        cls, ballot: Ballot | None, slug: str, voter: str, choice: str | None
    ) -> tuple[Ballot, str]:
        """Apply one vote (None: a retraction) to the voter's ballot, if any (a first vote
        creates it), and say what it did: cast, recast, changed, unchanged or retracted."""
        if choice is None:
            if ballot is None:
                raise UnknownBallot(slug)
            ballot.retract()
            return ballot, "retracted"
        if ballot is None:
            return cls.cast(slug, voter, choice), "cast"
        outcome = "recast" if ballot.choice is None else "changed"
        return ballot, outcome if ballot.vote(choice) else "unchanged"

    @classmethod
    def cast(cls, slug: str, voter: str, choice: str) -> Ballot:
        return cls._create(
            cls.Cast,
            id=ballot_id(slug, voter),
            tool=slug,
            choice=rules.decision(choice, "choice"),
            actor=voter,
        )

    def vote(self, choice: str) -> bool:
        """Record `choice`; returns False (and emits nothing) when it is already the vote."""
        choice = rules.decision(choice, "choice")
        if self.choice == choice:
            return False
        if self.choice is None:
            self.trigger_event(self.Recast, tool=self.tool, choice=choice, actor=self.voter)
        else:
            self.trigger_event(
                self.Changed, tool=self.tool, choice=choice, previous=self.choice, actor=self.voter
            )
        return True

    def retract(self) -> None:
        if self.choice is None:
            raise UnknownBallot(self.tool)
        self.trigger_event(self.Retracted, tool=self.tool, previous=self.choice, actor=self.voter)
