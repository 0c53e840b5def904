"""The last `view_tool_points` row of each tool, as a catalog projection last committed it.

Timeline points are packed POINTS_PER_ROW to a row, so a commit tops up each touched tool's last
row. Reading those rows back on every commit was most of a commit's time inside the store's one
write lock (issue 17: 1.8 ms for a batch touching 6 tools, 11 ms touching 70, far more for a
rebuild page touching thousands). The projection that writes a generation is its only writer, so
it keeps what it wrote: a tool's last row is read from the table at most once, and each touched
row is written once per batch, from memory. The same writer also keeps each tool's community
score as it committed it, so a commit sets that column only when it moved (see
`PointTails.scores`), and the seq of its last change-ring row (changes.py: seqs must follow
each other, and the ring is read for it at most once)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from projections.catalog.fold import Point
from projections.catalog.sortable import time_span

POINTS_PER_ROW = 24
"""Timeline points packed in one `view_tool_points` row (a JSON array of packed points): a
replay writes one row per POINTS_PER_ROW events on a tool instead of one per event, and a live
commit rewrites only the tool's last, partial row. 24 points (~3 KB) fit in one SQLite page: at 64
(~8 KB) every rewrite of a tail also rewrote its overflow pages, ~40 of the ~260 pages a 64-vote
commit wrote at 5,000 tools and 1.5M events. Rows stored at another size stay readable (a tail
holding this many or more counts as full)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One `view_tool_points` row."""

    tool: str
    first_size: int
    last_size: int
    count: int
    min_at: str
    max_at: str
    points: bytes

    def values(self) -> tuple[Any, ...]:
        """In the columns' order, as the insert names them."""
        return (
            self.tool,
            self.first_size,
            self.last_size,
            self.count,
            self.min_at,
            self.max_at,
            self.points,
        )


class PointTails:
    """Each tool's last row while it has room for more points (None: full, the next point
    begins a row), for the tools this projection has written or read; the rest are unknown."""

    def __init__(self) -> None:
        self.rows: dict[str, Row | None] = {}
        self.read = 0
        """How many tools' last rows were read from the table (each at most once)."""
        self.scores: dict[str, int] = {}
        """Each tool's `view_tools.community_pct` as committed (absent: unknown). SQLite
        rewrites the entries of every index on a column an UPDATE sets, moved or not: two score
        indexes, whose pages a commit touching many tools would otherwise nearly all write."""
        self.changes: int | None = None
        """The seq of the last change-ring row committed (None: unknown, read at the next
        commit in its transaction)."""

    def unknown(self, slugs: Iterable[str]) -> list[str]:
        return [slug for slug in slugs if slug not in self.rows]

    def found(self, slugs: Iterable[str], rows: Iterable[Any]) -> None:
        """The last rows read from the table for `slugs` (a tool without a row has none)."""
        found = {r["tool"]: r for r in rows}
        for slug in slugs:
            r = found.get(slug)
            self.read += 1
            self.rows[slug] = (
                None
                if r is None or int(r["count"]) >= POINTS_PER_ROW
                else Row(
                    slug,
                    int(r["first_size"]),
                    int(r["last_size"]),
                    int(r["count"]),
                    r["min_at"],
                    r["max_at"],
                    bytes(r["points"]),
                )
            )

    def pack(self, timeline: Mapping[str, list[Point]]) -> tuple[list[Row], dict[str, Row | None]]:
        """The rows that take each tool's new points (its last row topped up, then new rows),
        each once, and the last rows they leave: `commit` them once the rows are stored.
        Rows hold JSON arrays, so topping up splices bytes instead of decoding the row."""
        rows: list[Row] = []
        tails: dict[str, Row | None] = {}
        for slug, points in timeline.items():
            tail = self.rows.get(slug)
            start = 0
            last: Row | None = None
            if tail is not None:
                start = POINTS_PER_ROW - tail.count
                added = points[:start]
                low, high = time_span(added)
                last = Row(
                    slug,
                    tail.first_size,
                    added[-1][0] + 1,
                    tail.count + len(added),
                    min(tail.min_at, low),
                    max(tail.max_at, high),
                    tail.points[:-1] + b"," + orjson.dumps(added)[1:],
                )
                rows.append(last)
            for i in range(start, len(points), POINTS_PER_ROW):
                added = points[i : i + POINTS_PER_ROW]
                low, high = time_span(added)
                last = Row(
                    slug,
                    added[0][0] + 1,
                    added[-1][0] + 1,
                    len(added),
                    low,
                    high,
                    orjson.dumps(added),
                )
                rows.append(last)
            tails[slug] = last if last is not None and last.count < POINTS_PER_ROW else None
        return rows, tails

    def commit(self, tails: Mapping[str, Row | None], scores: Mapping[str, int]) -> None:
        """What `pack` left and the scores written, once they committed (a failed commit
        leaves what was)."""
        self.rows.update(tails)
        self.scores.update(scores)
