"""Keeps projections up to date by following the event log.

One loop for every projection and both stores: read the events after the committed position in
pages, fold them, commit documents and position together, then sleep until woken (a save in this
process, a PostgreSQL NOTIFY) or until the poll interval passes, so a lost wake-up only costs
latency. It resumes from the committed position after any restart, and after any database error."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from eventsourcing.persistence import ApplicationRecorder, PersistenceError

from projections.following.daemon import DaemonLoop
from projections.following.event_reader import EventReader
from projections.following.tracking import StaleProjection
from projections.records import LedgerEvent

log = logging.getLogger(__name__)


class RetrySchedule(Protocol):
    """How long to wait before the next attempt while the store keeps failing, and back to the
    first delay after a success: the composition root hands in domain/persistence/backoff.py's
    `Backoff`, the one schedule of every retry loop (projections import nothing of domain/)."""

    def next(self) -> float: ...

    def reset(self) -> None: ...


class Projection(Protocol):
    """What the follower needs of a projection: fold in memory, commit with the position."""

    name: str

    @property
    def position(self) -> int: ...

    def apply_all(self, events: Sequence[LedgerEvent]) -> None:
        """Fold a page of events, in log order, in memory."""

    def commit(self, expected: int) -> None:
        """Write what changed and move tracking from `expected` to `position`, atomically."""

    def caught_up(self) -> None:
        """Everything in the log is committed (a good moment to sign a checkpoint)."""

    def reload(self) -> None:
        """Forget what is in memory and load the last committed state."""

    def moved(self) -> bool:
        """Whether a rebuild switched the serving generation away from the one held in memory
        (then `reload`)."""


class Follower:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        projection: Projection,
        *,
        page_size: int = 1000,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.recorder = recorder
        self.reader = EventReader(recorder)
        self.projection = projection
        self.page_size = page_size
        self.progress = progress
        """Called with the number of events in each committed page (progress bars)."""

    def catch_up(self) -> int:
        """Fold and commit every event stored after the committed position, up to the end of
        the log as a read finds it; return the new position. A page shorter than `page_size`
        is that end: events stored while it was folded wait for the next catch-up, so a
        steady stream of writes is folded in batches rather than chased one commit each."""
        projection = self.projection
        if projection.moved():
            projection.reload()
        while True:
            page = self.reader.page(projection.position, self.page_size)
            if page:
                expected = projection.position
                try:
                    projection.apply_all(page)
                    projection.commit(expected)
                except (StaleProjection, PersistenceError):
                    # What is in memory may be ahead of what committed: start again from the table.
                    projection.reload()
                    raise
                if self.progress is not None:
                    self.progress(len(page))
            if len(page) < self.page_size:
                projection.caught_up()
                return projection.position


IDLE_POLL_SECONDS = 0.5
"""How often a follower looks for events when nothing woke it: a lost wake-up costs this much
latency, never an event."""


class FollowerThread(DaemonLoop):
    """Runs a follower in a daemon thread until stopped; `wake()` makes it look at once, or,
    with a `batch_window`, once that long has passed since its last catch-up (wake-ups that
    come meanwhile are folded into one: under a stream of writes, batches of a window's events
    instead of one commit per write). After a database error it waits `retry.next()`."""

    def __init__(
        self,
        follower: Follower,
        *,
        retry: RetrySchedule,
        poll_interval: float = IDLE_POLL_SECONDS,
        batch_window: float = 0.0,
    ) -> None:
        self.follower = follower
        self.retry = retry
        self.poll_interval = poll_interval
        self.batch_window = batch_window
        self._wake = threading.Event()
        super().__init__(f"follow-{follower.projection.name}")

    def wake(self, *_: object) -> None:
        self._wake.set()

    def _interrupt(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        name = self.follower.projection.name
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.follower.catch_up()
                self.retry.reset()
                delay = self.poll_interval
            except StaleProjection as error:
                log.warning("%s moved under us, reloaded: %s", name, error)
                continue
            except PersistenceError as error:
                delay = self.retry.next()
                log.warning(
                    "%s follower: database error, retrying in %.1fs: %s", name, delay, error
                )
            if self.batch_window and self._stop.wait(self.batch_window):
                return
            self._wake.wait(delay)
