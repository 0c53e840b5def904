"""Group commit for votes: votes that arrive together are decided one by one and stored in ONE
transaction, and each voter is answered only once that transaction is durable.

A store commit costs far more than deciding a vote, so under load one writer thread that takes
everything queued (up to a limit) and saves it at once multiplies throughput, while an idle
ledger still writes each vote at once. Semantics are those of a single write:

- votes of one batch on the same ballot apply in arrival order to the same aggregate;
- a refused vote (unknown tool, no ballot to retract) fails alone, before the save;
- the save is conditional on the versions of the tools the batch read (domain/persistence/
  recorders.py), so a delisting stored meanwhile by any process conflicts like a ballot would;
- if the save conflicts (another process wrote one of the ballots meanwhile), nothing of the
  batch was stored; each of its votes is then written alone with the usual retries, so one
  conflict never fails the others."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.persistence import PersistenceError, RecordConflictError, Recording

from domain import rules
from domain.ballot import Ballot
from domain.errors import LedgerError, ToolDelisted, UnknownTool
from domain.ids import ballot_id, tool_id
from domain.receipts import Sealer, VoteReceipt
from domain.tool import Tool

Load = Callable[[Collection[UUID], Mapping[UUID, Any]], dict[UUID, Any]]
"""Aggregates as stored now, in one query: `known` ones brought up to date, the others rebuilt."""


class Vote(NamedTuple):
    """One vote, its fields checked (`domain.application`): what the writer decides."""

    slug: str
    voter: str
    choice: str | None
    """None: a retraction."""
    surface: str | None = None
    """Where it came from (`rules.Surface`), recorded by a first vote."""


WriteAlone = Callable[[Vote], VoteReceipt]
"""One vote in its own transaction, retried on conflicts."""


class Save(Protocol):
    """Store the ballots' new events in one transaction, unless one of the aggregates named in
    `expected_versions` has moved since it was read (then `RecordConflictError`)."""

    def __call__(
        self, *ballots: Ballot, expected_versions: Mapping[UUID, int]
    ) -> list[Recording[UUID]]: ...


class Answer(Protocol):
    """Where the writer leaves a vote's outcome: a `concurrent.futures.Future`, or `_InLoop`."""

    def done(self) -> bool: ...

    def set_result(self, result: VoteReceipt) -> None: ...

    def set_exception(self, exception: BaseException) -> None: ...


class _InLoop:
    """The answer to a vote whose caller awaits it on an event loop: the writer fills it in,
    then hands all such answers of a batch to their loop in ONE wake-up (`_deliver`), where
    each caller's future is settled. A wake-up per vote cost more than deciding the vote."""

    __slots__ = ("error", "future", "loop", "result", "settled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[VoteReceipt] = loop.create_future()
        self.result: VoteReceipt | None = None
        self.error: BaseException | None = None
        self.settled = False

    def done(self) -> bool:
        return self.settled

    def set_result(self, result: VoteReceipt) -> None:
        self.result, self.settled = result, True

    def set_exception(self, exception: BaseException) -> None:
        self.error, self.settled = exception, True

    def settle(self) -> None:
        """In the loop: pass the outcome on, unless the caller stopped waiting."""
        if self.future.cancelled():
            return
        if self.error is None and self.result is not None:
            self.future.set_result(self.result)
        else:
            self.future.set_exception(self.error or RuntimeError("the vote writer gave no answer"))


@dataclass
class _Vote:
    vote: Vote
    done: Answer = field(default_factory=lambda: Future[VoteReceipt]())

    @property
    def slug(self) -> str:
        return self.vote.slug

    @property
    def voter(self) -> str:
        return self.vote.voter


class GroupCommit:
    """The writer is handed what it needs of the ledger it writes for (`load`, `save`,
    `write_alone`: the ledger's own methods) rather than the ledger, so that this module
    imports nothing that imports it back."""

    def __init__(self, load: Load, save: Save, write_alone: WriteAlone, max_batch: int) -> None:
        self._read, self._save, self._write_one = load, save, write_alone
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Vote | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="vote-writer", daemon=True)
        self._thread.start()
        self.observers: list[Callable[[int], None]] = []
        """Told the number of events of each stored batch (metrics)."""
        self._tools: dict[UUID, Tool] = {}
        """Every tool a batch voted on, as last read (writer thread only)."""
        self.sealer: Sealer | None = None
        """Seals a stored batch's events for their receipts (leaf hashes, signed promises), in
        this thread: one signature per chunk of the batch rather than one per vote."""

    def enqueue(self, vote: Vote) -> Future[VoteReceipt]:
        """Queue one vote; the future resolves once it is durable (or refused)."""
        if not self._thread.is_alive():
            raise RuntimeError("the vote writer has stopped")
        done: Future[VoteReceipt] = Future()
        self._queue.put(_Vote(vote, done))
        return done

    def enqueue_in_loop(self, vote: Vote) -> asyncio.Future[VoteReceipt]:
        """Queue one vote from a coroutine: the future, of the running loop, resolves once the
        vote is durable (or refused); a batch's answers reach the loop in one wake-up."""
        if not self._thread.is_alive():
            raise RuntimeError("the vote writer has stopped")
        answer = _InLoop(asyncio.get_running_loop())
        self._queue.put(_Vote(vote, answer))
        return answer.future

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[_Vote]) -> None:
        try:
            self._write_together(batch)
        except RecordConflictError:
            for vote in batch:
                if not vote.done.done():
                    self._write_alone(vote)
        except PersistenceError as error:
            for vote in batch:
                if not vote.done.done():
                    vote.done.set_exception(error)
        finally:
            for vote in batch:  # only a bug in the code above leaves one unanswered
                if not vote.done.done():
                    vote.done.set_exception(RuntimeError("the vote writer failed"))
            _deliver(batch)

    def _write_together(self, batch: list[_Vote]) -> None:
        keys = [ballot_id(vote.slug, vote.voter) for vote in batch]  # a uuid5 each: once
        refusals, ballots, tools = self._load(batch, keys)
        decided: list[tuple[_Vote, str, UUID, int, rules.Decision | None]] = []
        for vote, key in zip(batch, keys, strict=True):
            refusal = refusals.get(vote.slug)
            if refusal is not None:
                vote.done.set_exception(refusal)
                continue
            try:
                ballot, outcome = Ballot.decide(ballots.get(key), *vote.vote)
            except LedgerError as error:
                vote.done.set_exception(error)
                continue
            ballots[key] = ballot
            decided.append((vote, outcome, key, ballot.version, ballot.choice))
        changed = [b for b in ballots.values() if b is not None and b.pending_events]
        read = {tools[vote.slug] for vote, *_ in decided}
        expected = {i: self._tools[i].version for i in read}
        recordings = self._save(*changed, expected_versions=expected) if changed else []
        stored = {
            (r.domain_event.originator_id, r.domain_event.originator_version): r.notification
            for r in recordings
        }
        seals = self.sealer(list(stored.values())) if self.sealer and stored else {}
        for vote, outcome, key, version, choice in decided:
            event = None if outcome == "unchanged" else stored[(key, version)]
            seal = seals.get(event.id) if event is not None else None
            vote.done.set_result(VoteReceipt(outcome, event, choice, seal=seal))
        for observe in self.observers:
            observe(len(recordings))

    def _load(
        self, batch: list[_Vote], keys: list[UUID]
    ) -> tuple[dict[str, LedgerError], dict[UUID, Ballot | None], dict[str, UUID]]:
        """Why votes on each tool of the batch are refused (unknown, delisted; absent: not
        refused), the stored ballots the batch votes on (`keys`: each vote's ballot id), and
        each slug's tool id: all read in one query. Tools are kept between batches and brought
        up to date by that query; the save is conditional on the versions read (a delisting
        stored meanwhile by any process makes it conflict, and each vote is then decided
        alone, on the tool as it is now)."""
        refusals: dict[str, LedgerError] = {}
        tools: dict[str, UUID] = {}
        for slug in {vote.slug for vote in batch}:
            try:
                tools[slug] = tool_id(rules.slug(slug))
            except LedgerError as error:
                refusals[slug] = error
        wanted_ballots = {key for v, key in zip(batch, keys, strict=True) if v.slug in tools}
        wanted = wanted_ballots | set(tools.values())
        known = {i: self._tools[i] for i in tools.values() if i in self._tools}
        found = self._read(wanted, known)
        for slug, key in tools.items():
            tool: Tool | None = found.get(key)
            if tool is None:
                refusals[slug] = UnknownTool(slug)
                continue
            self._tools[key] = tool
            if tool.delisted:
                refusals[slug] = ToolDelisted(slug)
        return refusals, {key: found.get(key) for key in wanted_ballots}, tools

    def _write_alone(self, vote: _Vote) -> None:
        try:
            vote.done.set_result(self._write_one(vote.vote))
        except (LedgerError, PersistenceError) as error:
            vote.done.set_exception(error)


def _deliver(batch: list[_Vote]) -> None:
    """Hand the batch's answers to the loops that await them: one wake-up per loop."""
    waiting: dict[asyncio.AbstractEventLoop, list[_InLoop]] = {}
    for vote in batch:
        if isinstance(vote.done, _InLoop):
            waiting.setdefault(vote.done.loop, []).append(vote.done)
    for loop, answers in waiting.items():
        try:
            loop.call_soon_threadsafe(_settle, answers)
        except RuntimeError:  # the loop was closed: nobody is waiting any more
            continue


def _settle(answers: list[_InLoop]) -> None:
    for answer in answers:
        answer.settle()
