"""Group commit for votes: votes that arrive together are decided one by one and stored in ONE
transaction, and each voter is answered only once that transaction is durable.

A store commit costs far more than deciding a vote, so under load one writer thread that takes
everything queued (up to a limit) and saves it at once multiplies throughput, while an idle
ledger still writes each vote at once. Semantics are those of a single write:

- votes of one batch on the same ballot apply in arrival order to the same aggregate;
- a refused vote (unknown tool, no ballot to retract) fails alone, before the save;
- if the save conflicts (another process wrote one of the ballots meanwhile), nothing of the
  batch was stored; each of its votes is then written alone with the usual retries, so one
  conflict never fails the others."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.persistence import PersistenceError, RecordConflictError

from domain.errors import LedgerError
from domain.ids import ballot_id
from domain.receipts import VoteReceipt

if TYPE_CHECKING:
    from domain.application import Ledger
    from domain.ballot import Ballot


@dataclass
class _Vote:
    slug: str
    voter: str
    choice: str | None
    """None: a retraction."""
    done: Future[VoteReceipt] = field(default_factory=Future)


class GroupCommit:
    def __init__(self, ledger: Ledger, max_batch: int) -> None:
        self.ledger = ledger
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Vote | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="vote-writer", daemon=True)
        self._thread.start()
        self.observers: list[Callable[[int], None]] = []
        """Told the number of events of each stored batch (metrics)."""

    def enqueue(self, slug: str, voter: str, choice: str | None) -> Future[VoteReceipt]:
        """Queue one vote; the future resolves once it is durable (or refused)."""
        if not self._thread.is_alive():
            raise RuntimeError("the vote writer has stopped")
        vote = _Vote(slug, voter, choice)
        self._queue.put(vote)
        return vote.done

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

    def _write_together(self, batch: list[_Vote]) -> None:
        ledger = self.ledger
        tools: dict[str, LedgerError | None] = {}
        ballots: dict[UUID, Ballot | None] = {}
        decided: list[tuple[_Vote, str, UUID, int, str | None]] = []
        for vote in batch:
            if vote.slug not in tools:
                tools[vote.slug] = _refusal(ledger, vote.slug)
            refusal = tools[vote.slug]
            if refusal is not None:
                vote.done.set_exception(refusal)
                continue
            key = ballot_id(vote.slug, vote.voter)
            if key not in ballots:
                ballots[key] = ledger.find_ballot(vote.slug, vote.voter)
            try:
                ballot, outcome = ledger.decide_vote(
                    ballots[key], vote.slug, vote.voter, vote.choice
                )
            except LedgerError as error:
                vote.done.set_exception(error)
                continue
            ballots[key] = ballot
            decided.append((vote, outcome, key, ballot.version, ballot.choice))
        changed = [b for b in ballots.values() if b is not None and b.pending_events]
        recordings = ledger.save(*changed) if changed else []
        stored = {
            (r.domain_event.originator_id, r.domain_event.originator_version): r.notification
            for r in recordings
        }
        for vote, outcome, key, version, choice in decided:
            event = None if outcome == "unchanged" else stored[(key, version)]
            vote.done.set_result(VoteReceipt(outcome, event, choice))  # type: ignore[arg-type]
        for observe in self.observers:
            observe(len(recordings))

    def _write_alone(self, vote: _Vote) -> None:
        try:
            vote.done.set_result(self.ledger.write_vote_alone(vote.slug, vote.voter, vote.choice))
        except (LedgerError, PersistenceError) as error:
            vote.done.set_exception(error)


def _refusal(ledger: Ledger, slug: str) -> LedgerError | None:
    """Why votes on this tool are refused (unknown, delisted), or None: checked once a batch."""
    try:
        ledger.active_tool(slug)
    except LedgerError as error:
        return error
    return None
