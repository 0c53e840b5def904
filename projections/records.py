"""A stored event as the folds see it: decoded straight from the stored JSON, not through the
aggregate classes, so the live view, the rebuild and an auditor read the very same fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import orjson


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


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    position: int
    """Notification id: the event's place in the log (PostgreSQL may leave gaps)."""
    kind: str
    """Aggregate and event class, e.g. `Ballot.Cast`: the topic without its module."""
    originator_id: str
    version: int
    timestamp: str
    """ISO 8601, UTC, as recorded."""
    data: dict[str, Any]

    @classmethod
    def from_notification(cls, n: StoredNotification) -> LedgerEvent:
        data = orjson.loads(n.state)
        return cls(
            position=n.id,
            kind=n.topic.rpartition(":")[2],
            originator_id=str(n.originator_id),
            version=n.originator_version,
            timestamp=data["timestamp"]["_data_"],
            data=data,
        )
