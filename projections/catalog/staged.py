"""A rebuild's timeline rows, filled in memory as its pages fold and written when it commits.

A rebuild commits rarely (projections/catalog/views.py: once it has folded
BUILD_EVENTS_PER_TOOL, 128, events per tool, so what it holds is bounded per tool, not in all),
and between commits each tool's last row is filled in memory: the points of each page are
serialised once and appended as bytes (~100 a point, not tuples), so a page costs what it adds,
never a rewrite of each touched tool's row. A commit then writes every row filled since the
last one, once. The rows are byte for byte those PointTails writes for a follower
(tests/projections/catalog/test_staged.py holds the two equal)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from projections.catalog.fold import Point
from projections.catalog.sortable import time_span
from projections.catalog.tails import POINTS_PER_ROW, PointTails, Row


@dataclass(slots=True)
class _Filling:
    """A tool's last row while it has room: its points as JSON array elements, unjoined."""

    first_size: int
    last_size: int
    count: int
    min_at: str
    max_at: str
    parts: list[bytes] = field(default_factory=list)
    dirty: bool = True
    """Points added since the last commit wrote it."""

    @classmethod
    def of(cls, row: Row) -> _Filling:
        return cls(
            row.first_size,
            row.last_size,
            row.count,
            row.min_at,
            row.max_at,
            [row.points[1:-1]],
            dirty=False,
        )

    def add(self, points: Sequence[Point]) -> None:
        low, high = time_span(points)
        self.min_at, self.max_at = min(self.min_at, low), max(self.max_at, high)
        self.parts.append(orjson.dumps(points)[1:-1])
        self.count += len(points)
        self.last_size = points[-1][0] + 1
        self.dirty = True

    def row(self, tool: str) -> Row:
        points = b"[" + b",".join(self.parts) + b"]"
        return Row(
            tool, self.first_size, self.last_size, self.count, self.min_at, self.max_at, points
        )


class StagedTails(PointTails):
    """PointTails that also fills rows before the commit (`stage`) and hands them to it with
    the rest. `fresh`: the generation holds no row yet (it is at position 0), so every tool's
    last row is known without reading: it has none."""

    def __init__(self, *, fresh: bool) -> None:
        super().__init__()
        self.fresh = fresh
        self.filling: dict[str, _Filling] = {}
        self.full: list[Row] = []
        """Rows filled since the last commit."""

    def unknown(self, slugs: Iterable[str]) -> list[str]:
        if self.fresh:
            return []
        return [s for s in super().unknown(slugs) if s not in self.filling]

    def stage(self, timeline: Mapping[str, list[Point]]) -> dict[str, list[Point]]:
        """Add the points of every tool whose last row is known to its rows in memory; returns
        the others' points, left for the commit (which reads those last rows, once). A commit
        that fails reloads the projection, which forgets all of it."""
        rest: dict[str, list[Point]] = {}
        for slug, points in timeline.items():
            filling = self.filling.pop(slug, None)
            if filling is None:
                if not self.fresh and slug not in self.rows:
                    rest[slug] = points
                    continue
                tail = self.rows.pop(slug, None)
                filling = None if tail is None else _Filling.of(tail)
            start = 0
            while start < len(points):
                if filling is None:
                    taken = points[start : start + POINTS_PER_ROW]
                    low, high = time_span(taken)
                    filling = _Filling(taken[0][0] + 1, 0, 0, low, high)
                else:
                    taken = points[start : start + POINTS_PER_ROW - filling.count]
                filling.add(taken)
                start += len(taken)
                if filling.count >= POINTS_PER_ROW:
                    self.full.append(filling.row(slug))
                    filling = None
            if filling is None:
                self.rows[slug] = None  # full: its next point begins a row
            else:
                self.filling[slug] = filling
        return rest

    def pack(self, timeline: Mapping[str, list[Point]]) -> tuple[list[Row], dict[str, Row | None]]:
        """Every row filled since the last commit, once: `timeline`'s points staged first, so
        they go on their tools' rows. The commit has read the last row of every tool `unknown`
        named, so `stage` leaves nothing and there is nothing for PointTails to pack; what the
        rows leave is in `filling` and `rows` already, so nothing is left for `commit` either."""
        rest = self.stage(timeline)
        assert not rest, f"packed before their last rows were read: {sorted(rest)}"
        filled = [f.row(slug) for slug, f in self.filling.items() if f.dirty]
        return [*self.full, *filled], {}

    def commit(self, tails: Mapping[str, Row | None], scores: Mapping[str, int]) -> None:
        super().commit(tails, scores)
        self.full = []
        for filling in self.filling.values():
            filling.dirty = False
