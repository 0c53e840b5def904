"""The catalog snapshot of a process that does not follow the catalog itself (the API process
of `verdict serve`, whose projections run in `verdict project` processes): re-read from the
view tables whenever the catalog's tracked position has moved, checked every few milliseconds.

Reads of a tool are then served from memory, as when the follower ran in the process: no query
and no thread hop per request, each of which can wait a GIL switch interval under vote load
(docs/performance.md)."""

from __future__ import annotations

import logging
import threading

import orjson
from eventsourcing.persistence import PersistenceError

from projections.catalog.views import CATALOG, CatalogSnapshot, ViewStore

log = logging.getLogger(__name__)

CATALOG_POLL_SECONDS = 0.02
"""How often the snapshot's process looks whether the catalog's tracked position moved."""


class CatalogPoller:
    def __init__(self, views: ViewStore, *, poll_interval: float = CATALOG_POLL_SECONDS) -> None:
        self.views = views
        self.poll_interval = poll_interval
        self.snapshot: CatalogSnapshot | None = None
        """The last committed catalog read, None until the first read succeeds."""
        self._seen: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="catalog-poller", daemon=True)

    def start(self) -> None:
        self.refresh()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def refresh(self) -> None:
        """Read the tool documents again if the catalog has moved since the last read, or a
        rebuild switched it to a new generation (which may hold other documents at the same
        position: new folds)."""
        seen = self.views.serving_at(CATALOG)
        if self.snapshot is not None and self._seen == seen:
            return
        found = self.views.tool_documents(CATALOG)  # documents and position in one statement
        tools = {orjson.loads(doc)["slug"]: doc for doc in found.docs}
        self.snapshot = CatalogSnapshot(found.position, found.size, tools)
        self._seen = seen

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.refresh()
            except PersistenceError as error:  # keep the last snapshot; try again next time
                log.warning("catalog poller: database error: %s", error)
