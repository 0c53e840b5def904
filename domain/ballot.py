"""One voter's ballot on one tool. Each event carries the tool and the choice it replaces, so the
community tally folds without remembering ballots: memory stays flat however many people vote.
A moderator may void a ballot (it leaves the tally, and its voter may not vote on the tool again)
and restore it; those events name the voter, since their `actor` is the moderator.

`Cast` is at version 2: it records the surface the first vote came from. Version 1 events,
stored before, are upcast to "no surface recorded" when read; their bytes never change
(docs/evolution.md)."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from domain import rules
from domain.errors import BallotNotVoided, BallotVoided, UnknownBallot
from domain.ids import ballot_id


class Ballot(Aggregate):
    class Cast(Aggregate.Created):
        """The voter's first vote on this tool, and on which surface (None: not recorded, as
        for every vote cast before version 2)."""

        class_version = 2

        tool: str
        choice: str
        actor: str
        surface: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A v1 Cast recorded no surface: it reads as one whose surface is unknown."""
            state["surface"] = None

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

    class Voided(Aggregate.Event):
        """A moderator took the ballot out of the tally: `previous` is the choice it removes."""

        tool: str
        voter: str
        previous: str
        reason: str
        rule: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            aggregate.voided = True

    class Restored(Aggregate.Event):
        """A moderator undid a void: `choice` goes back into the tally."""

        tool: str
        voter: str
        choice: str
        reason: str
        rule: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            aggregate.voided = False

    def __init__(self, tool: str, choice: str, actor: str, surface: str | None) -> None:
        self.tool = tool
        self.voter = actor
        self.surface = rules.surface(surface)
        """Where the first vote came from (None: cast before surfaces were recorded)."""
        self.choice: rules.Decision | None = rules.decision(choice, "choice")
        self.voided = False
        """While voided, `choice` is the vote the void removed (a restore gives it back)."""

    @classmethod
    def decide(
        cls,
        ballot: Ballot | None,
        slug: str,
        voter: str,
        choice: str | None,
        surface: str | None = None,
    ) -> tuple[Ballot, str]:
        """Apply one vote (None: a retraction) to the voter's ballot, if any (a first vote
        creates it, recording `surface`), and say what it did: cast, recast, changed,
        unchanged or retracted. A voided ballot takes no vote until a moderator restores it."""
        if ballot is not None and ballot.voided:
            raise BallotVoided(slug)
        if choice is None:
            if ballot is None:
                raise UnknownBallot(slug)
            ballot.retract()
            return ballot, "retracted"
        if ballot is None:
            return cls.cast(slug, voter, choice, surface), "cast"
        outcome = "recast" if ballot.choice is None else "changed"
        return ballot, outcome if ballot.vote(choice) else "unchanged"

    @classmethod
    def cast(cls, slug: str, voter: str, choice: str, surface: str | None = None) -> Ballot:
        return cls._create(
            cls.Cast,
            id=ballot_id(slug, voter),
            tool=slug,
            choice=rules.decision(choice, "choice"),
            actor=voter,
            surface=rules.surface(surface),
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

    def void(self, reason: str, rule: str, actor: str) -> None:
        """Take the current vote out of the tally, saying why and under which rule."""
        reason, rule = rules.text("reason", reason), rules.text("rule", rule)
        if self.voided:
            raise BallotVoided(self.tool)
        if self.choice is None:
            raise UnknownBallot(self.tool)
        self.trigger_event(
            self.Voided,
            tool=self.tool,
            voter=self.voter,
            previous=self.choice,
            reason=reason,
            rule=rule,
            actor=rules.text("actor", actor),
        )

    def restore(self, reason: str, rule: str, actor: str) -> None:
        """Put a voided vote back into the tally."""
        reason, rule = rules.text("reason", reason), rules.text("rule", rule)
        if not self.voided or self.choice is None:
            raise BallotNotVoided(self.tool)
        self.trigger_event(
            self.Restored,
            tool=self.tool,
            voter=self.voter,
            choice=self.choice,
            reason=reason,
            rule=rule,
            actor=rules.text("actor", actor),
        )
