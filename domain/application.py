"""The application service: one method per use case. Aggregates decide; this class loads, saves,
retries optimistic-concurrency conflicts and reports the log position of what it wrote."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Literal, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import Notification, RecordConflictError, Recording

from domain import rules
from domain.ballot import Ballot
from domain.comparison import Comparison
from domain.errors import (
    BallotNotVoided,
    BallotVoided,
    ComparisonAlreadyPublished,
    ConcurrentUpdate,
    InvalidInput,
    ToolAlreadyListed,
    ToolDelisted,
    UnknownBallot,
    UnknownComparison,
    UnknownTool,
)
from domain.ids import ballot_id, comparison_id, panel_id, tool_id
from domain.panel import Panel
from domain.persistence.backoff import Backoff
from domain.persistence.event_table import EventTable
from domain.persistence.group_commit import GroupCommit, Vote
from domain.receipts import ModerationReceipt, Receipt, VoteReceipt
from domain.rules import Surface
from domain.settings import Settings
from domain.tool import Tool

T = TypeVar("T")
MAX_ATTEMPTS = 50
MAX_MODERATED = 1000
"""Ballots one moderation request may void or restore: one save, bounded in size and time."""
BALLOT_READ = 5_000
"""Ballot ids one read of `Ledger.find_ballots` names at most (SQLite takes 32,766 parameters)."""
VOTER = "voter:"
"""A voter id's ballots are cast by the actor `voter:<id>` (api/voting/credentials.py)."""
CONFLICT_FIRST_SECONDS = 0.002
CONFLICT_MOST_SECONDS = 0.05
"""Conflicting writers retry within a few milliseconds, spread apart by jitter."""
_JITTER = random.Random()
"""Back-off jitter from its own generator: the global one is left to callers' seeds."""


class Ledger(Application[UUID]):
    name = "Ledger"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._listeners: list[Callable[[int], None]] = []
        super().__init__(env=self.settings.eventsourcing_env())
        self._event_table = EventTable(self)
        self.ballots: GroupCommit | None = (
            GroupCommit(
                self._load_aggregates, self.save, self._vote_alone, self.settings.group_commit_max
            )
            if self.settings.group_commit
            else None
        )

    def close(self) -> None:
        if self.ballots is not None:
            self.ballots.stop()
        super().close()

    # -- listings ---------------------------------------------------------------------------

    def list_tool(self, slug: str, listing: dict[str, str], actor: str) -> Receipt:
        tool = Tool.list(slug, listing, actor)
        try:
            return Receipt("listed", self._save(tool))
        except RecordConflictError:
            raise ToolAlreadyListed(slug) from None

    def amend_listing(self, slug: str, changes: dict[str, str], reason: str, actor: str) -> Receipt:
        def attempt() -> Receipt:
            tool = self._tool(slug)
            tool.amend(changes, reason, actor)
            return Receipt("amended", self._save(tool))

        return _retrying(attempt)

    def delist_tool(self, slug: str, reason: str, actor: str) -> Receipt:
        def attempt() -> Receipt:
            tool = self._tool(slug)
            tool.delist(reason, actor)
            return Receipt("delisted", self._save(tool))

        return _retrying(attempt)

    # -- panel verdicts ---------------------------------------------------------------------

    def publish_verdict(
        self, slug: str, seat: str, reviewer: str, decision: str, text: str, actor: str
    ) -> Receipt:
        def publish(panel: Panel) -> str:
            panel.publish(seat, reviewer, decision, text, actor, seats=self.settings.panel_seats)
            return "published"

        return self._changing_panel(slug, actor, publish)

    def amend_verdict(
        self,
        slug: str,
        seat: str,
        reviewer: str,
        decision: str,
        text: str,
        reason: str,
        actor: str,
    ) -> Receipt:
        def amend(panel: Panel) -> str:
            panel.amend(seat, reviewer, decision, text, reason, actor)
            return "amended"

        return self._changing_panel(slug, actor, amend)

    def put_verdict(
        self,
        slug: str,
        seat: str,
        reviewer: str | None,
        decision: str | None,
        text: str | None,
        actor: str,
        reason: str | None = None,
    ) -> Receipt:
        """Publish into an empty seat (reviewer, decision and text needed), or amend the current
        verdict with a reason, changing only what is given."""

        def put(panel: Panel) -> str:
            if rules.seat(seat) in panel.seats:
                panel.amend(seat, reviewer, decision, text, reason, actor)
                return "amended"
            panel.publish(seat, reviewer, decision, text, actor, seats=self.settings.panel_seats)
            return "published"

        return self._changing_panel(slug, actor, put)

    def retract_verdict(self, slug: str, seat: str, reason: str, actor: str) -> Receipt:
        def retract(panel: Panel) -> str:
            panel.retract(seat, reason, actor)
            return "retracted"

        return self._changing_panel(slug, actor, retract)

    def _changing_panel(self, slug: str, actor: str, change: Callable[[Panel], str]) -> Receipt:
        """One load-change-save of a tool's panel, retried on a conflict; `change` acts on the
        panel and names the outcome. The tool is saved as read, so a delisting refuses it."""

        def attempt() -> Receipt:
            panel, tool = self._panel(slug, actor)
            outcome = change(panel)
            return Receipt(outcome, self._save(panel, read=[tool]))

        return _retrying(attempt)

    # -- community ballots ------------------------------------------------------------------

    def vote(
        self, slug: str, voter: str, choice: str | None, surface: Surface | None = None
    ) -> VoteReceipt:
        """Cast, change or repeat a vote (`choice`), or retract it (None), and wait until it is
        durable; a first vote records the `surface` it came from. One ballot per (tool, voter)
        holds under any concurrency: a second creation of the same ballot fails at version 1
        inside the store and is retried as a change. With group commit on, concurrent votes
        share one transaction."""
        vote = _vote_fields(slug, voter, choice, surface)
        if self.ballots is None:
            return self._vote_alone(vote)
        return self.ballots.enqueue(vote).result()

    def vote_in_loop(
        self, slug: str, voter: str, choice: str | None, surface: Surface | None = None
    ) -> asyncio.Future[VoteReceipt]:
        """`vote` for a coroutine (group commit only): queued at once, answered by a future of
        the running event loop, with no thread hop and one loop wake-up per batch however many
        votes it holds."""
        if self.ballots is None:
            raise RuntimeError("vote_in_loop needs group commit (VERDICT_GROUP_COMMIT=true)")
        return self.ballots.enqueue_in_loop(_vote_fields(slug, voter, choice, surface))

    def _vote_alone(self, vote: Vote) -> VoteReceipt:
        """One vote in its own transaction, retried on conflicts: the path without group
        commit, and the writer's fallback when a batch's save conflicts."""

        slug, voter = vote.slug, vote.voter

        def attempt() -> VoteReceipt:
            tool = self._active_tool(slug)
            ballot, outcome = Ballot.decide(
                self._find_ballot(slug, voter), slug, voter, vote.choice, vote.surface
            )
            event = self._save(ballot, read=[tool]) if outcome != "unchanged" else None
            return VoteReceipt(outcome, event, ballot.choice)

        return _retrying(attempt)

    def _load_aggregates(self, ids: Collection[UUID], known: Mapping[UUID, Any]) -> dict[UUID, Any]:
        """Aggregates as stored now, read in ONE query (the vote writer's batch): each of
        `known` is brought up to date in place with the events stored after its version, the
        others are rebuilt from their events; an id with neither is left out."""
        versions = {i: aggregate.version for i, aggregate in known.items() if i in ids}
        events = self._event_table.events(ids, versions)
        found: dict[UUID, Any] = {}
        for i in ids:
            aggregate = known.get(i)
            for event in events.get(i, ()):  # eventsourcing's project_aggregate, without its
                aggregate = event.mutate(aggregate)  # isinstance of a Protocol (~9 µs an event)
            if aggregate is not None:
                found[i] = aggregate
        return found

    def _find_ballot(self, slug: str, voter: str) -> Ballot | None:
        try:
            ballot: Ballot = self.repository.get(ballot_id(slug, voter))
        except AggregateNotFoundError:
            return None
        return ballot

    # -- moderation -------------------------------------------------------------------------

    def find_ballots(self, slugs: Sequence[str], voters: Sequence[str]) -> list[Ballot]:
        """The stored ballots of these voters (actors, `voter:ID`) on these tools, as they are
        now, BALLOT_READ ids a query: how each voted and whether it is voided, which the
        moderation queue weighs and no view keeps (the tallies fold without ballots)."""
        ids = [ballot_id(slug, voter) for slug in slugs for voter in voters]
        found: list[Ballot] = []
        for start in range(0, len(ids), BALLOT_READ):
            found.extend(self._load_aggregates(ids[start : start + BALLOT_READ], {}).values())
        return found

    def void_ballots(
        self, slug: str, voters: Sequence[str], reason: str, rule: str, actor: str
    ) -> ModerationReceipt:
        """Take the named voters' ballots on the tool out of its tally: one `Ballot.Voided`
        each, all in one save. One refusal (an unknown ballot, one already voided) refuses the
        whole request, naming the voter at fault (`voters[i]`)."""
        reason, rule = rules.text("reason", reason), rules.text("rule", rule)
        return self._moderate("voided", slug, voters, lambda b: b.void(reason, rule, actor))

    def restore_ballots(
        self, slug: str, voters: Sequence[str], reason: str, rule: str, actor: str
    ) -> ModerationReceipt:
        """Undo voids: one `Ballot.Restored` per ballot, all in one save, all or nothing."""
        reason, rule = rules.text("reason", reason), rules.text("rule", rule)
        return self._moderate("restored", slug, voters, lambda b: b.restore(reason, rule, actor))

    def _moderate(
        self,
        outcome: Literal["voided", "restored"],
        slug: str,
        voters: Sequence[str],
        change: Callable[[Ballot], None],
    ) -> ModerationReceipt:
        keys = _moderated_ballots(slug, voters)

        def attempt() -> ModerationReceipt:
            try:
                tool = self._active_tool(slug)
            except (UnknownTool, ToolDelisted) as error:
                error.field = "tool"
                raise
            found = self._load_aggregates(keys, {})
            ballots: list[Ballot] = []
            for i, (voter, key) in enumerate(zip(voters, keys, strict=True)):
                ballot: Ballot | None = found.get(key)
                try:
                    if ballot is None:
                        raise UnknownBallot(slug)
                    change(ballot)
                except (UnknownBallot, BallotVoided, BallotNotVoided) as error:
                    error.field = f"voters[{i}]"
                    error.detail = f"{error.field} ({voter}): {error.detail}"
                    raise
                ballots.append(ballot)
            expected = {tool.id: tool.version}
            recordings = self.save(*ballots, expected_versions=expected)
            return ModerationReceipt(
                outcome,
                slug,
                tuple(zip(voters, (r.notification for r in recordings), strict=True)),
            )

        return _retrying(attempt)

    # -- comparisons ------------------------------------------------------------------------

    def publish_comparison(self, left: str, right: str, actor: str) -> Receipt:
        rules.slug(left, "left")
        rules.slug(right, "right")

        def attempt() -> Receipt:
            tools = [self._active_tool(slug) for slug in (left, right)]
            try:
                existing: Comparison = self.repository.get(comparison_id(left, right))
            except AggregateNotFoundError:
                published = Comparison.publish(left, right, actor)
                return Receipt("published", self._save(published, read=tools))
            if not existing.withdrawn:
                raise ComparisonAlreadyPublished(left, right)
            existing.republish(actor)
            return Receipt("published", self._save(existing, read=tools))

        return _retrying(attempt)

    def withdraw_comparison(self, left: str, right: str, reason: str, actor: str) -> Receipt:
        def attempt() -> Receipt:
            try:
                comparison: Comparison = self.repository.get(comparison_id(left, right))
            except AggregateNotFoundError:
                raise UnknownComparison(left, right) from None
            comparison.withdraw(reason, actor)
            return Receipt("withdrawn", self._save(comparison))

        return _retrying(attempt)

    # -- plumbing ---------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """Called with the last log position after every save in this process (wakes followers)."""
        self._listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        super()._notify(recordings)
        if recordings:
            for listener in self._listeners:
                listener(recordings[-1].notification.id)

    def _save(self, *aggregates: Any, read: Collection[Tool] = ()) -> Notification:
        """Store the aggregates' new events, unless one of the tools `read` (to decide them)
        has changed since: the store re-checks their versions inside the insert transaction
        (domain/persistence/recorders.py), so a delisting can never slip in between."""
        expected = {tool.id: tool.version for tool in read}
        return self.save(*aggregates, expected_versions=expected)[-1].notification

    def _tool(self, slug: str) -> Tool:
        rules.slug(slug)
        try:
            tool: Tool = self.repository.get(tool_id(slug))
        except AggregateNotFoundError:
            raise UnknownTool(slug) from None
        return tool

    def _active_tool(self, slug: str) -> Tool:
        """The tool, unless it is unknown or delisted: votes and verdicts need a listed tool."""
        tool = self._tool(slug)
        if tool.delisted:
            raise ToolDelisted(slug)
        return tool

    def _panel(self, slug: str, actor: str) -> tuple[Panel, Tool]:
        """The tool's panel, opened (in the same save as its first verdict) if it has none
        yet, and the listed tool it was read with."""
        tool = self._active_tool(slug)
        try:
            panel: Panel = self.repository.get(panel_id(slug))
        except AggregateNotFoundError:
            panel = Panel.open(slug, actor)
        return panel, tool


def _vote_fields(slug: str, voter: str, choice: str | None, surface: Surface | None) -> Vote:
    """A vote, its voter, choice and surface checked before it is queued or written."""
    if choice is not None:
        rules.decision(choice, "choice")
    return Vote(slug, rules.text("actor", voter), choice, rules.surface(surface))


def _moderated_ballots(slug: str, voters: Sequence[str]) -> list[UUID]:
    """The ballot ids of a moderation request: 1 to MAX_MODERATED distinct voter ids."""
    rules.slug(slug, "tool")
    if not voters:
        raise InvalidInput("voters", "name at least one voter")
    if len(voters) > MAX_MODERATED:
        raise InvalidInput("voters", f"at most {MAX_MODERATED} voters per request")
    seen: set[str] = set()
    for i, voter in enumerate(voters):
        field = f"voters[{i}]"
        if (
            not isinstance(voter, str)
            or not voter
            or rules.text("actor", VOTER + voter) != (VOTER + voter)
        ):
            raise InvalidInput(field, "must be a voter id (POST /v1/voters answers one)")
        if voter in seen:
            raise InvalidInput(field, f"{voter!r} is named twice")
        seen.add(voter)
    return [ballot_id(slug, VOTER + voter) for voter in voters]


def _retrying(attempt: Callable[[], T]) -> T:
    """Re-run a load-decide-save attempt after an optimistic-concurrency conflict."""
    backoff = Backoff(CONFLICT_FIRST_SECONDS, CONFLICT_MOST_SECONDS, jitter=_JITTER)
    for _ in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except RecordConflictError:
            time.sleep(backoff.next())
    raise ConcurrentUpdate(f"gave up after {MAX_ATTEMPTS} conflicting attempts; try again")
