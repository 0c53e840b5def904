"""The auditor's export: one JSON line per leaf of the transparency log, in leaf order.

    {"leaf_index": 0, "leaf_hash": "<base64>", "position": 1, "event": {"originator_id": …,
     "originator_version": …, "position": …, "state": {…}, "topic": …}}

`leaf_hash` and `position` are what the log recorded when it appended the event; `event` is
the event as the store holds it now (null if it is gone). A verifier recomputes each leaf from
`event` alone (docs/audit.md) and compares: a mismatch is an event changed after it was logged."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import orjson
from eventsourcing.persistence import ApplicationRecorder

from projections.audit.log import AuditStore, Leaf
from projections.records import LedgerEvent, StoredNotification

PAGE = 1000
EXPORT_FORMAT = "verdict-ledger-export/1"


def export_lines(
    recorder: ApplicationRecorder, audit: AuditStore, after: int = 0, limit: int | None = None
) -> Iterator[bytes]:
    """NDJSON lines for leaves `after` .. `after + limit - 1` (all that exist when limit is
    None), read page by page so memory stays flat however long the log."""
    remaining = limit
    while remaining is None or remaining > 0:
        page_size = PAGE if remaining is None else min(PAGE, remaining)
        leaves = audit.leaves(after, page_size)
        if not leaves:
            return
        first, last = leaves[0].position, leaves[-1].position
        stored = recorder.select_notifications(first, last - first + 1, stop=last)
        events = {n.id: _exported(n) for n in stored}
        for leaf in leaves:
            yield orjson.dumps(_line(leaf, events.get(leaf.position))) + b"\n"
        after = leaves[-1].index + 1
        if remaining is not None:
            remaining -= len(leaves)


def export_records(recorder: ApplicationRecorder, leaves: list[Leaf]) -> list[dict[str, Any]]:
    """The export line of each of `leaves`, which may lie anywhere in the log (a score proof's
    leaves): one read of the store per leaf, so the work follows the leaves asked for."""
    records = []
    for leaf in leaves:
        stored = recorder.select_notifications(leaf.position, 1, stop=leaf.position)
        event = _exported(stored[0]) if stored and stored[0].id == leaf.position else None
        records.append(_line(leaf, event))
    return records


def _line(leaf: Leaf, event: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "leaf_index": leaf.index,
        "leaf_hash": base64.b64encode(leaf.hash).decode(),
        "event": event,
    }


def _exported(n: StoredNotification) -> dict[str, Any]:
    """The event as exported; a state that no longer parses is shown raw (base64), so the
    verifier reports that leaf instead of the export failing."""
    try:
        return LedgerEvent.from_notification(n).exported()
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return {
            "originator_id": str(n.originator_id),
            "originator_version": n.originator_version,
            "position": n.id,
            "state_unreadable": base64.b64encode(n.state).decode(),
            "topic": n.topic,
        }
