"""Rebuild every view from the first event: the live state must come out identical."""

from __future__ import annotations

from collections.abc import Iterator

from eventsourcing.persistence import ApplicationRecorder

from projections.catalog import Batch, Catalog
from projections.follower import CATALOG
from projections.records import LedgerEvent
from projections.views import StaleProjection, ViewStore


def read_events(
    recorder: ApplicationRecorder, after: int = 0, page_size: int = 10_000
) -> Iterator[LedgerEvent]:
    """Every stored event after `after`, in log order, read in pages (memory stays bounded)."""
    while True:
        page = recorder.select_notifications(after + 1, page_size)
        if not page:
            return
        for notification in page:
            yield LedgerEvent.from_notification(notification)
        after = page[-1].id


def rebuild_catalog(recorder: ApplicationRecorder, views: ViewStore) -> Catalog:
    """Fold the whole log from zero and replace the catalog views with the result, atomically.
    If a live follower commits meanwhile, fold on to its position and try again."""
    catalog = Catalog()
    while True:
        before = catalog.position
        for event in read_events(recorder, catalog.position):
            catalog.apply(event)
        committed = views.position(CATALOG)
        if committed > catalog.position > before:
            continue  # a live follower is ahead: read on rather than move the position back
        everything = Batch(
            tools=list(catalog.tools.values()),
            comparisons=list(catalog.comparisons.values()),
            history=catalog.new_history,
        )
        try:
            views.commit_catalog(CATALOG, committed, catalog.position, everything, replace_all=True)
        except StaleProjection:
            continue
        return catalog
