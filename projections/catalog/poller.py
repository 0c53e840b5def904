"""The catalog snapshot of a process that does not follow the catalog itself (the API process
of `verdict serve`, whose projections run in `verdict project` processes): brought up to date
from the view tables whenever the catalog's tracked position has moved, checked every few
milliseconds, by reading only the documents written past the position it holds.

Reads of a tool are then served from memory, as when the follower ran in the process: no query
and no thread hop per request, each of which can wait a GIL switch interval under vote load
(docs/performance.md). Re-reading every document per move cost a refresh ~50 ms at 5,000 tools
(issue 17); the change ring (changes.py) names the documents written past a position, read by
their keys, so a refresh costs what changed."""

from __future__ import annotations

import logging
import threading

from eventsourcing.persistence import PersistenceError

from projections.catalog.views import CATALOG, CatalogSnapshot, ToolChanges, ViewStore

log = logging.getLogger(__name__)

CATALOG_POLL_SECONDS = 0.02
"""How often the snapshot's process looks whether the catalog's tracked position moved."""


class CatalogPoller:
    def __init__(self, views: ViewStore, *, poll_interval: float = CATALOG_POLL_SECONDS) -> None:
        self.views = views
        self.poll_interval = poll_interval
        self.snapshot: CatalogSnapshot | None = None
        """The last committed catalog read, None until the first read succeeds."""
        self.documents_read = 0
        """How many documents the last refresh that moved the snapshot read."""
        self._generation: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="catalog-poller", daemon=True)

    def start(self) -> None:
        self.refresh()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def refresh(self) -> None:
        """Merge the documents written since the snapshot's position into it. A rebuild that
        switched generations may hold other documents at the same positions (new folds), and
        a reset catalog starts again from zero: either is read whole."""
        held = self.snapshot
        if held is not None and self.views.serving_at(CATALOG) == (self._generation, held.position):
            return  # one statement, where a read of the changes is a transaction (3 on PostgreSQL)
        found = self.views.tool_changes(CATALOG, None if held is None else held.position)
        if held is not None and found.generation == self._generation:
            if found.position == held.position and not found.tools:
                return
            if found.position >= held.position:
                self._publish(found, {**held.tools, **found.tools})
                return
        if held is not None:  # the generation or the log under it changed: read it whole
            found = self.views.tool_changes(CATALOG, None)
        self._publish(found, found.tools)
        self._generation = found.generation

    def _publish(self, found: ToolChanges, tools: dict[str, bytes]) -> None:
        self.snapshot = CatalogSnapshot(found.position, found.size, tools)
        self.documents_read = len(found.tools)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.refresh()
            except PersistenceError as error:  # keep the last snapshot; try again next time
                log.warning("catalog poller: database error: %s", error)
