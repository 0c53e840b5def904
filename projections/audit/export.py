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
from projections.database import Database
from projections.following.event_reader import select_stored
from projections.records import LedgerEvent, StoredNotification, dashed

PAGE = 10_000
"""Leaves per range read of the store: one statement for the leaves, one for their events."""
EXPORT_FORMAT = "verdict-ledger-export/1"


def export_lines(
    recorder: ApplicationRecorder, audit: AuditStore, after: int = 0, limit: int | None = None
) -> Iterator[bytes]:
    """NDJSON lines for leaves `after` .. `after + limit - 1` (all that exist when limit is
    None), read page by page so memory stays flat however long the log. Each event's stored
    state is spliced into its line as stored, once it is known to parse: decoding it into
    objects and encoding it again was most of the export's cost (a verifier canonicalises it
    itself; tests/projections/audit/test_export.py holds the lines equal to `_line`'s)."""
    rows = _EventRows(recorder)
    remaining = limit
    while remaining is None or remaining > 0:
        page_size = PAGE if remaining is None else min(PAGE, remaining)
        leaves = audit.leaves(after, page_size)
        if not leaves:
            return
        events = rows.between(leaves[0].position, leaves[-1].position)
        for leaf in leaves:
            event = events.get(leaf.position)
            yield (
                _LINE % (leaf.index, base64.b64encode(leaf.hash), event)
                if event is not None
                else orjson.dumps(_line(leaf, None)) + b"\n"
            )
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
        return _unreadable(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)


def _unreadable(
    position: int, originator_id: str, version: int, topic: str, state: bytes
) -> dict[str, Any]:
    return {
        "originator_id": originator_id,
        "originator_version": version,
        "position": position,
        "state_unreadable": base64.b64encode(state).decode(),
        "topic": topic,
    }


_LINE = b'{"leaf_index":%d,"leaf_hash":"%b","event":%b}\n'
_EVENT = b'{"originator_id":%b,"originator_version":%d,"position":%d,"state":%b,"topic":%b}'


class _EventRows:
    """The stored rows of a range of log positions, straight from eventsourcing's table (by
    EventReader's statement), each as its exported event's bytes."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        select, key = select_stored(self.db, recorder)
        self._range = self.db.sql(f"{select} WHERE {key} >= ? AND {key} <= ? ORDER BY {key}")
        self._topics: dict[str, bytes] = {}

    def between(self, first: int, last: int) -> dict[int, bytes]:
        """Position -> the exported event's JSON, for the events stored at first .. last."""
        loads, dumps, topics = orjson.loads, orjson.dumps, self._topics
        found: dict[int, bytes] = {}
        for position, originator_id, version, topic, state in self.db.fetch_tuples(
            self._range, (first, last)
        ):
            state = bytes(state)
            h = dashed(originator_id)
            try:
                data = loads(state)
                data["timestamp"]["_data_"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                found[position] = dumps(_unreadable(position, h, version, topic, state))
                continue
            if b"\n" in state or b"\r" in state:  # whitespace JSON allows, NDJSON does not
                state = dumps(data)
            name = topics.get(topic)
            if name is None:
                name = topics[topic] = orjson.dumps(topic)
            found[position] = _EVENT % (dumps(h), version, position, state, name)
        return found
