"""A rebuild's timeline rows, packed as its pages fold and held until the build commits.

A rebuild commits rarely (projections/following/rebuild.py: only once it has folded a few
dozen events per tool), so at catalog size a commit no longer rewrites every touched tool's
partial last row page after page. Between commits each tool's points are packed into rows as
they fold (bytes, ~100 a point, not tuples), a partial last row topped up in memory; the commit
then writes each row once. Rows are packed by PointTails.pack itself, so they are the rows a
follower writes (tests/projections/catalog/test_staged.py holds the two equal)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from projections.catalog.fold import Point
from projections.catalog.tails import PointTails, Row


class StagedTails(PointTails):
    """PointTails that also packs points before the commit (`stage`) and hands those rows to
    the commit with the rest. `fresh`: the generation holds no row yet (it is at position 0),
    so every tool's last row is known without reading: it has none."""

    def __init__(self, *, fresh: bool) -> None:
        super().__init__()
        self.fresh = fresh
        self.staged: dict[tuple[str, int], Row] = {}
        """Rows packed since the last commit, by key: a topped-up row replaces its earlier form."""

    def unknown(self, slugs: Iterable[str]) -> list[str]:
        return [] if self.fresh else super().unknown(slugs)

    def stage(self, timeline: Mapping[str, list[Point]]) -> dict[str, list[Point]]:
        """Pack the points of the tools whose last row is known; returns the others' points,
        left for the commit (which reads those last rows, once). What a staged row leaves is
        taken at once: a commit that fails reloads the projection, which forgets it."""
        known = {s: p for s, p in timeline.items() if self.fresh or s in self.rows}
        rows, left = super().pack(known)
        for row in rows:
            self.staged[row.tool, row.first_size] = row
        self.rows.update(left)
        return {s: p for s, p in timeline.items() if s not in known}

    def pack(self, timeline: Mapping[str, list[Point]]) -> tuple[list[Row], dict[str, Row | None]]:
        rows, left = super().pack(timeline)
        return [*self.staged.values(), *rows], left

    def commit(self, tails: Mapping[str, Row | None]) -> None:
        super().commit(tails)
        self.staged = {}
