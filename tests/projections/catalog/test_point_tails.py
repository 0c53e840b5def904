"""The timeline rows a catalog projection commits (`view_tool_points`, packed POINTS_PER_ROW
points to a row): a follower keeps the last row of each tool it wrote in memory, reads a tool's
last row from the table at most once, and writes each touched row once per batch; whatever the batch
boundaries, the rows are the ones a rebuild from zero writes, on both stores."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.bootstrap import Runtime, open_runtime
from domain.settings import Settings
from projections.catalog.views import POINTS_PER_ROW, CatalogProjection
from projections.following.follower import Follower
from projections.following.rebuild import rebuild
from tests.builders import list_tools

SLUGS = ("alpha", "beta", "gamma")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = open_runtime(settings)
    list_tools(runtime.ledger, *SLUGS)
    yield runtime
    runtime.close()


COLUMNS = ("tool", "first_size", "last_size", "count", "min_at", "max_at", "points")


def point_rows(runtime: Runtime) -> list[tuple[Any, ...]]:
    """Every row's values (by column name: PostgreSQL rows iterate over their keys)."""
    return rows_of(runtime, "view_tool_points", COLUMNS, "tool, first_size")


TOOL_COLUMNS = (
    "slug",
    "position",
    "listed_at",
    "category",
    "status",
    "panel_pct",
    "community_pct",
    "doc",
)


def tool_rows(runtime: Runtime) -> list[tuple[Any, ...]]:
    """Every `view_tools` row's values, sort columns included."""
    return rows_of(runtime, "view_tools", TOOL_COLUMNS, "slug")


def rows_of(
    runtime: Runtime, table: str, columns: tuple[str, ...], order: str
) -> list[tuple[Any, ...]]:
    rows = runtime.views.db.fetch(
        f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"  # noqa: S608 - literals
    )
    return [
        tuple(bytes(v) if isinstance(v, memoryview) else v for v in (r[k] for k in columns))
        for r in rows
    ]


def test_a_follower_reads_each_tools_last_row_once(runtime: Runtime) -> None:
    """Ten commits on the same three tools: their last rows are read from the table once,
    by the first commit, then held in memory; a reload forgets them (another process may
    have written since), so the next commit reads them again, once."""
    ledger = runtime.ledger
    projection = CatalogProjection(runtime.views)
    follower = Follower(ledger.recorder, projection)
    follower.catch_up()
    assert projection.tails.read == len(SLUGS)
    for batch in range(10):
        for slug in SLUGS:
            ledger.vote(slug, f"voter:{batch}", "ship")
        follower.catch_up()
    assert projection.tails.read == len(SLUGS)
    projection.reload()
    assert projection.tails.read == 0
    ledger.vote("alpha", "voter:after", "skip")
    follower.catch_up()
    assert projection.tails.read == 1


@hypothesis_settings(max_examples=5)
@given(data=st.data())
def test_rows_written_from_memory_are_a_rebuilds_rows(
    runtime: Runtime, data: st.DataObject
) -> None:
    """Votes on three tools (voters changing their minds too) committed by one long-lived
    follower in pages and batches of arbitrary sizes, across full and partial rows: the rows
    equal a rebuild's, only each tool's last row has room (the index on times holds full rows
    alone), and `view_tools` (whose score column a commit sets only when it moved) equals a
    rebuild's too."""
    ledger = runtime.ledger
    seed = data.draw(st.integers(0, 2**32), label="seed")
    rng = random.Random(seed)
    follower = Follower(
        ledger.recorder,
        CatalogProjection(runtime.views),
        page_size=data.draw(st.integers(1, 2 * POINTS_PER_ROW + 3), label="page"),
    )
    voter = rng.randrange(10**9)
    for _ in range(data.draw(st.integers(1, 6), label="batches")):
        for _ in range(data.draw(st.integers(0, POINTS_PER_ROW + 5), label="votes")):
            voter += rng.choice((0, 1))  # the same voter again: a change, or nothing
            ledger.vote(rng.choice(SLUGS), f"voter:{voter}", rng.choice(("ship", "skip")))
        follower.catch_up()
    live, tools = point_rows(runtime), tool_rows(runtime)
    assert sum(r[3] for r in live) == ledger.recorder.max_notification_id()
    last = {r[0]: r for r in live}
    assert all(r[3] == POINTS_PER_ROW or last[r[0]] == r for r in live)
    rebuild(ledger.recorder, CatalogProjection(runtime.views), page_size=POINTS_PER_ROW * 3)
    assert point_rows(runtime) == live
    assert tool_rows(runtime) == tools
