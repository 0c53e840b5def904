"""Rebuild a projection from the first event: the live state must come out identical.

A rebuild empties the projection's derived rows and puts it back at position 0 in one
transaction, then folds the log into it page by page, one commit per page: memory stays bounded
by the page, not the log. Reads meanwhile answer from the rebuilding view and say its position."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from eventsourcing.persistence import ApplicationRecorder

from projections.following.event_reader import EventReader
from projections.following.follower import Projection
from projections.records import LedgerEvent


def read_events(
    recorder: ApplicationRecorder, after: int = 0, page_size: int = 10_000
) -> Iterator[LedgerEvent]:
    """Every stored event after `after`, in log order, read in pages (memory stays bounded)."""
    reader = EventReader(recorder)
    while page := reader.page(after, page_size):
        yield from page
        after = page[-1].position


def rebuild(
    recorder: ApplicationRecorder,
    projection: Projection,
    *,
    page_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Reset `projection` and fold the whole log into it again; returns the final position."""
    return rebuild_together(recorder, [projection], page_size=page_size, progress=progress)


def rebuild_together(
    recorder: ApplicationRecorder,
    projections: Sequence[Projection],
    *,
    page_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """`rebuild` of several projections in one pass: each page of the log is read and decoded
    once and folded into every projection (reading is a fair share of a replay's cost)."""
    for projection in projections:
        projection.reset()
    reader, after = EventReader(recorder), 0
    while page := reader.page(after, page_size):
        for projection in projections:
            expected = projection.position
            projection.apply_all(page)
            projection.commit(expected)
        after = page[-1].position
        if progress is not None:
            progress(len(page))
    for projection in projections:
        projection.caught_up()
    return after
