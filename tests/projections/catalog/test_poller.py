"""The API's polled catalog snapshot: exactly the committed view documents, re-read only when
the catalog's tracked position moves, and then only the documents written past it (an index
range on `view_tools.position`, in every generation), on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from api.bootstrap import Runtime, open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.catalog.poller import CatalogPoller
from projections.catalog.views import CATALOG, CatalogProjection
from projections.following.follower import Follower
from projections.following.rebuild import build_and_switch
from tests.builders import list_tools


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = open_runtime(settings)
    yield runtime
    runtime.close()


def catch_up(runtime: Runtime) -> None:
    Follower(runtime.ledger.recorder, runtime.projection(CATALOG)).catch_up()


def committed(runtime: Runtime) -> dict[str, bytes]:
    found = runtime.views.tool_documents(CATALOG)
    return {orjson.loads(doc)["slug"]: doc for doc in found.docs}


def test_snapshot_is_the_committed_views_and_follows_their_position(runtime: Runtime) -> None:
    """Empty before the first commit, then the committed documents at the tracked position;
    no commit since, the same snapshot."""
    seed_demo(runtime.ledger)
    poller = CatalogPoller(runtime.views)
    poller.refresh()
    assert poller.snapshot is not None
    assert (poller.snapshot.position, dict(poller.snapshot.tools)) == (0, {})

    catch_up(runtime)
    poller.refresh()
    found = runtime.views.tool_documents(CATALOG)
    assert poller.snapshot.position == found.position > 0
    assert sorted(poller.snapshot.tools.values()) == sorted(found.docs)
    unchanged = poller.snapshot
    poller.refresh()
    assert poller.snapshot is unchanged, "no new commit, no new read"

    runtime.ledger.vote("smollm3", "v_poller", "ship")
    catch_up(runtime)
    poller.refresh()
    assert poller.snapshot is not unchanged
    assert poller.snapshot.position == runtime.views.tracking.tracked(CATALOG)[0]
    doc = orjson.loads(poller.snapshot.tools["smollm3"])
    before = orjson.loads(unchanged.tools["smollm3"])
    assert doc["community"]["ship"] == before["community"]["ship"] + 1


def test_a_refresh_reads_only_the_documents_written_past_its_position(runtime: Runtime) -> None:
    """Forty tools, then votes on two of them: the next refresh reads those two documents, not
    forty, and the snapshot is still every committed document."""
    slugs = [f"tool-{n:02d}" for n in range(40)]
    list_tools(runtime.ledger, *slugs)
    catch_up(runtime)
    poller = CatalogPoller(runtime.views)
    poller.refresh()
    assert poller.documents_read == 40

    runtime.ledger.vote("tool-03", "voter:a", "ship")
    runtime.ledger.vote("tool-17", "voter:b", "skip")
    catch_up(runtime)
    poller.refresh()
    assert poller.snapshot is not None
    assert poller.documents_read == 2
    assert dict(poller.snapshot.tools) == committed(runtime)
    assert poller.snapshot.position == runtime.views.tracking.tracked(CATALOG)[0]


def test_a_switched_generation_is_read_whole(runtime: Runtime) -> None:
    """A rebuild may write other documents at the same positions (new folds): after the
    switch the poller reads every document of the new generation, which has the index too."""
    list_tools(runtime.ledger, "alpha", "beta", "gamma")
    catch_up(runtime)
    poller = CatalogPoller(runtime.views)
    poller.refresh()
    before = runtime.views.generations.serving(CATALOG).generation

    build_and_switch(runtime.ledger.recorder, [CatalogProjection(runtime.views).beside()])
    after = runtime.views.generations.serving(CATALOG)
    assert after.generation != before
    poller.refresh()
    assert poller.documents_read == 3
    assert poller.snapshot is not None and dict(poller.snapshot.tools) == committed(runtime)
    assert f"view_tools_position_g{after.generation}" in indexes(runtime)


def test_every_generation_gets_the_position_index_at_start(settings: Settings) -> None:
    """A store whose serving tables were made before the index existed gains it when a
    process opens it; nothing is rebuilt for it."""
    runtime = open_runtime(settings)
    try:
        generation = runtime.views.generations.serving(CATALOG).generation
        runtime.views.db.execute(f"DROP INDEX view_tools_position_g{generation}")
        assert f"view_tools_position_g{generation}" not in indexes(runtime)
    finally:
        runtime.close()
    runtime = open_runtime(settings)
    try:
        assert f"view_tools_position_g{generation}" in indexes(runtime)
        assert not runtime.outdated(CATALOG)
    finally:
        runtime.close()


def indexes(runtime: Runtime) -> set[str]:
    db = runtime.views.db
    if db.is_postgres:
        rows = db.fetch(
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()"
        )
    else:
        rows = db.fetch("SELECT name FROM sqlite_master WHERE type = 'index'")
    return {r["name"] for r in rows}


def test_the_changes_are_an_index_range_on_sqlite(tmp_path: Path) -> None:
    """SQLite's plan for a refresh reads the position index, never the whole table."""
    runtime = open_runtime(Settings(database_url=f"sqlite:///{tmp_path}/ledger.db"))
    try:
        rows = runtime.views.db.fetch(
            "EXPLAIN QUERY PLAN SELECT t.slug FROM view_generations g LEFT JOIN view_tools t "
            "ON t.position > ? WHERE g.name = ?",
            (0, CATALOG),
        )
        plan = " ".join(r["detail"] for r in rows)
        assert "USING INDEX view_tools_position_g1" in plan, plan
    finally:
        runtime.close()
