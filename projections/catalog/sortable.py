"""Timestamps in one text form whose order is time order, in SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any


def time_span(points: Sequence[Sequence[Any]]) -> tuple[str, str]:
    """The earliest and latest time of some packed points, in `sortable` form. Times all in the
    form eventsourcing records (UTC, `+00:00`, microseconds) sort as text already, so only the
    two ends are converted; anything else is converted point by point."""
    ats = [p[2] for p in points]
    if set(map(len, ats)) == {32} and all(map(str.endswith, ats, repeat("+00:00"))):
        return sortable(min(ats)), sortable(max(ats))
    moments = [sortable(at) for at in ats]
    return min(moments), max(moments)


def sortable(timestamp: str) -> str:
    """ISO 8601 in one fixed UTC form, so text order is time order in both databases."""
    if len(timestamp) == 32 and timestamp.endswith("+00:00"):  # as eventsourcing records them
        return timestamp[:26] + "Z"
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
