"""A catalog rebuild (CatalogBuild: timeline rows filled in memory, commits only when due) writes
exactly the rows a live follower committing every page writes, whatever the pages, the commits
and the kills in between, on both stores; and at catalog size it commits per tool, not per page."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.bootstrap import Runtime, open_runtime
from domain.demo_data import TOOLS
from domain.errors import UnknownBallot
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.catalog.tails import POINTS_PER_ROW
from projections.catalog.views import (
    BUILD_EVENTS_PER_TOOL,
    CATALOG,
    FOLDED_TABLES,
    CatalogBuild,
    CatalogProjection,
)
from projections.following.event_reader import EventReader
from projections.following.follower import Follower
from projections.following.rebuild import build_and_switch
from tests.builders import list_tools

LISTED = ("alpha", "beta", "gamma")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    list_tools(runtime.ledger, *LISTED)
    yield runtime
    runtime.close()


def catalog_rows(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the serving catalog's tables, sorted, bytes as bytes."""
    db = runtime.views.db
    return {
        table: sorted(
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in db.fetch_tuples(f"SELECT * FROM {table}")  # noqa: S608 - our names
        )
        for table in FOLDED_TABLES
    }


def vote_at_random(runtime: Runtime, rng: random.Random, votes: int) -> None:
    """Votes on three tools, some voters changing their minds or retracting."""
    for i in range(votes):
        voter = f"voter:{rng.randrange(max(1, votes // 2))}"
        choice = rng.choice(("ship", "skip", "ship", "skip", None))
        try:
            runtime.ledger.vote(rng.choice(LISTED), voter, choice)
        except UnknownBallot:  # nothing to retract: that voter had not voted on it
            continue
        if i % 50 == 0:
            runtime.ledger.vote(rng.choice(LISTED), f"voter:first{i}", "ship")


@hypothesis_settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_a_rebuild_that_commits_when_it_likes_writes_a_followers_rows(
    runtime: Runtime, data: st.DataObject
) -> None:
    """Votes across full and partial timeline rows, followed live page by page; then a rebuild
    fed pages of any size, committing after any of them, killed and resumed anywhere, finished
    by `build_and_switch`: once it serves, every catalog row equals the live follower's."""
    rng = random.Random(data.draw(st.integers(0, 2**32), label="seed"))
    vote_at_random(runtime, rng, data.draw(st.integers(0, 3 * POINTS_PER_ROW), label="votes"))
    Follower(runtime.ledger.recorder, CatalogProjection(runtime.views), page_size=7).catch_up()
    live = catalog_rows(runtime)
    reader = EventReader(runtime.ledger.recorder)
    build = CatalogProjection(runtime.views).beside()
    assert isinstance(build, CatalogBuild)
    committed = build.position
    for step in data.draw(st.lists(st.sampled_from(["page", "commit", "kill"]), max_size=12)):
        if step == "page":
            page = reader.page(build.position, data.draw(st.integers(1, 80), label="page"))
            build.apply_all(page)
        elif step == "commit" and build.position > committed:
            build.commit(committed)
            committed = build.position
        elif step == "kill":  # nothing in memory survives; it resumes from its last commit
            build = CatalogProjection(runtime.views).beside()
            assert build.position == committed
    page_size = data.draw(st.integers(1, 100), label="final page")
    assert build_and_switch(runtime.ledger.recorder, [build], page_size=page_size)
    assert catalog_rows(runtime) == live


def test_a_rebuild_at_catalog_size_commits_per_tool_not_per_page(runtime: Runtime) -> None:
    """With more events than BUILD_EVENTS_PER_TOOL per tool, pages of 10 events: the rebuild
    commits once per BUILD_EVENTS_PER_TOOL events per tool, and once more at the end."""
    tools = len(TOOLS) + len(LISTED)
    vote_at_random(runtime, random.Random(7), 2 * BUILD_EVENTS_PER_TOOL * tools)
    events = runtime.ledger.recorder.max_notification_id() or 0
    build = CatalogProjection(runtime.views).beside()
    commits: list[int] = []
    commit = build.commit

    def counted(expected: int) -> None:
        commit(expected)
        commits.append(build.position)

    build.commit = counted  # type: ignore[method-assign]  # counts the real commits
    build_and_switch(runtime.ledger.recorder, [build], page_size=10)
    assert commits[-1] == events
    assert len(commits) <= events // (BUILD_EVENTS_PER_TOOL * tools) + 1
    assert runtime.views.position(CATALOG) == events
