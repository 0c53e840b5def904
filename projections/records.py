"""A stored event as the folds see it: decoded straight from the stored JSON, not through the
aggregate classes, so the live view, the rebuild and an auditor read the very same fields.

`canonical()` is the one definition of an event's bytes in the Merkle log (docs/audit.md): the
JSON object {"originator_id", "originator_version", "position", "state", "topic"} with keys
sorted at every level, no whitespace, UTF-8 without ASCII escapes. It is reproducible from an
export line alone, with nothing but a JSON library."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import orjson


def dashed(originator_id: str) -> str:
    """An originator id given as 32 hex digits (SQLite keeps them so) in its canonical dashed
    form, as PostgreSQL gives it; string slicing, a few times cheaper than a UUID."""
    h = originator_id
    if len(h) == 32:
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return h


class StoredNotification(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def originator_id(self) -> UUID | str: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


class LedgerEvent(NamedTuple):
    """Immutable; a named tuple rather than a frozen dataclass because a replay builds one per
    event and a frozen dataclass costs several times as much to construct."""

    position: int
    """Notification id: the event's place in the log (PostgreSQL may leave gaps)."""
    topic: str
    """As stored, e.g. `domain.ballot:Ballot.Cast`."""
    kind: str
    """Aggregate and event class, e.g. `Ballot.Cast`: the topic without its module."""
    originator_id: str
    version: int
    timestamp: str
    """ISO 8601, UTC, as recorded."""
    data: dict[str, Any]

    @classmethod
    def from_notification(cls, n: StoredNotification) -> LedgerEvent:
        return cls.from_row(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)

    @classmethod
    def from_row(
        cls, position: int, originator_id: str, version: int, topic: str, state: bytes
    ) -> LedgerEvent:
        return cls.from_rows([(position, originator_id, version, topic, state)])[0]

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]]) -> list[LedgerEvent]:
        """Decode stored rows `(position, originator_id, version, topic, state)`: the one
        decoder, written as one loop because a replay runs it millions of times. Originator
        ids are `dashed`."""
        loads, make, kinds = orjson.loads, tuple.__new__, _KINDS
        events: list[LedgerEvent] = []
        append = events.append
        for position, originator_id, version, topic, state in rows:
            data = loads(state)
            h = dashed(originator_id)
            kind = kinds.get(topic) or _kind(topic)
            append(
                make(cls, (position, topic, kind, h, version, data["timestamp"]["_data_"], data))
            )
        return events

    def exported(self) -> dict[str, Any]:
        """The event as an export shows it: everything its canonical bytes are made of."""
        return {
            "originator_id": self.originator_id,
            "originator_version": self.version,
            "position": self.position,
            "state": self.data,
            "topic": self.topic,
        }

    def canonical(self) -> bytes:
        """`canonical_json(self.exported())`, spliced instead of sorted: the outer keys are
        fixed and already in order, so only the state is serialised with sorted keys (a replay
        makes a million of these; tests/projections/test_records.py holds the two equal)."""
        return _CANONICAL % (
            _dumps(self.originator_id),
            self.version,
            self.position,
            _dumps(self.data, option=orjson.OPT_SORT_KEYS),
            _dumps(self.topic),
        )


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: byte-identical to Python's
    `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


_dumps = orjson.dumps
_CANONICAL = b'{"originator_id":%b,"originator_version":%d,"position":%d,"state":%b,"topic":%b}'
"""The exported object's outer keys, in code-point order (docs/audit.md)."""

_KINDS: dict[str, str] = {}
"""Topic -> kind, memoised: a log has a handful of topics and a replay asks millions of times."""


def _kind(topic: str) -> str:
    kind = _KINDS[topic] = topic.rpartition(":")[2]
    return kind
