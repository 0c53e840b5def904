"""Keeps the catalog views up to date by following the event log.

One loop for both stores: read the events after the committed position in pages, fold them,
commit documents and position together, then sleep until woken (a save in this process, a
PostgreSQL NOTIFY) or until the poll interval passes, so a lost wake-up only costs latency.
It resumes from the committed position after any restart, and after any database error."""

from __future__ import annotations

import logging
import threading

from eventsourcing.persistence import ApplicationRecorder, PersistenceError

from projections.catalog import Catalog
from projections.records import LedgerEvent
from projections.views import StaleProjection, ViewStore

log = logging.getLogger(__name__)

CATALOG = "catalog"


class CatalogFollower:
    def __init__(
        self, recorder: ApplicationRecorder, views: ViewStore, *, page_size: int = 1000
    ) -> None:
        self.recorder = recorder
        self.views = views
        self.page_size = page_size
        self.catalog: Catalog = views.load_catalog(CATALOG)

    def catch_up(self) -> int:
        """Fold and commit every event after the committed position; return the new position."""
        while True:
            page = self.recorder.select_notifications(self.catalog.position + 1, self.page_size)
            if not page:
                return self.catalog.position
            expected = self.catalog.position
            try:
                for notification in page:
                    self.catalog.apply(LedgerEvent.from_notification(notification))
                self.views.commit_catalog(
                    CATALOG, expected, self.catalog.position, self.catalog.drain()
                )
            except (StaleProjection, PersistenceError):
                # What is in memory may be ahead of what committed: start again from the table.
                self.catalog = self.views.load_catalog(CATALOG)
                raise


class FollowerThread:
    """Runs a follower in a daemon thread until stopped; `wake()` makes it look at once."""

    def __init__(self, follower: CatalogFollower, *, poll_interval: float = 0.5) -> None:
        self.follower = follower
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="catalog-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self, *_: object) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = self.poll_interval
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.follower.catch_up()
                backoff = self.poll_interval
            except StaleProjection as error:
                log.warning("catalog moved under us, reloaded: %s", error)
                continue
            except PersistenceError as error:
                log.warning(
                    "catalog follower: database error, retrying in %.1fs: %s", backoff, error
                )
                backoff = min(backoff * 2, 10.0)
            self._wake.wait(backoff)
