"""Views on a real store (SQLite and PostgreSQL): following, resuming, racing, rebuilding."""

from __future__ import annotations

import time

import orjson
import pytest

from api.bootstrap import Runtime, open_runtime
from domain.application import Ledger
from domain.settings import Settings
from projections.catalog.fold import Catalog, point_document
from projections.catalog.paging import Order
from projections.catalog.views import (
    CATALOG,
    FULL_AT_INDEX,
    FULL_ROW,
    POINTS_PER_ROW,
    CatalogProjection,
    ViewStore,
)
from projections.following.follower import Follower
from projections.following.rebuild import rebuild
from projections.following.tracking import StaleProjection
from tests.builders import EDITOR, list_tools, restarted, vote_in_random_commits
from tests.projections.catalog.test_point_tails import point_rows
from tests.projections.catalog.test_poller import indexes


def tool_doc(views: ViewStore, slug: str) -> dict:
    [doc] = views.tool_documents(CATALOG, [slug]).docs
    return orjson.loads(doc)


def test_follower_thread_catches_up_on_local_and_foreign_writes(settings: Settings) -> None:
    """Writes from this process and from another Ledger on the same store both reach the views."""
    runtime = open_runtime(settings)
    other = Ledger(settings)
    try:
        runtime.follow()
        list_tools(runtime.ledger, "alpha")
        runtime.ledger.vote("alpha", "voter:a", "ship")
        last = other.vote("alpha", "voter:b", "skip").position
        assert last is not None
        assert runtime.views.wait_for(CATALOG, last, timeout=10) >= last
        assert tool_doc(runtime.views, "alpha")["community"] == {
            "ship": 1,
            "skip": 1,
            "total": 2,
            "ship_pct": 50,
            "voided": 0,
        }
    finally:
        other.close()
        runtime.close()


def test_a_batch_window_folds_a_burst_of_wake_ups_into_few_commits(settings: Settings) -> None:
    """Woken by every one of 20 saves made within its window, a follower commits the burst in
    at most two batches (the first save's, then the rest), and misses none of it."""
    runtime = open_runtime(settings)
    batches: list[int] = []
    try:
        list_tools(runtime.ledger, "alpha")
        runtime.follow([CATALOG], on_batch=lambda _: batches.append, batch_window=2.0)
        start = runtime.ledger.recorder.max_notification_id() or 0
        assert runtime.views.wait_for(CATALOG, start, timeout=10) >= start
        time.sleep(2.1)  # the window after the first catch-up is over: the next wake-up counts
        batches.clear()
        for n in range(20):
            last = runtime.ledger.vote("alpha", f"voter:{n}", "ship").position
        assert last is not None
        assert runtime.views.wait_for(CATALOG, last, timeout=10) >= last
        deadline = time.monotonic() + 10  # a batch is told after its commit, which the wait saw
        while sum(batches) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sum(batches) == 20 and len(batches) <= 2, batches
        assert tool_doc(runtime.views, "alpha")["community"]["ship"] == 20
    finally:
        runtime.close()


def test_resumed_and_racing_followers_never_double_count(settings: Settings) -> None:
    """A follower restarted mid-log and a second follower racing it leave the rebuild's state."""
    runtime = open_runtime(settings)
    try:
        ledger, views = runtime.ledger, runtime.views
        list_tools(ledger, "alpha")
        for i in range(30):
            ledger.vote("alpha", f"voter:{i}", "ship" if i % 2 else "skip")
        first = Follower(ledger.recorder, CatalogProjection(views), page_size=10)
        first.catch_up()
        for i in range(30, 45):
            ledger.vote("alpha", f"voter:{i}", "ship")
        resumed = Follower(ledger.recorder, CatalogProjection(views), page_size=4)
        resumed.catch_up()
        ledger.vote("alpha", "voter:0", "ship")
        with pytest.raises(StaleProjection):
            first.catch_up()  # behind: its compare-and-set fails and it reloads from the table
        first.catch_up()
        live = tool_doc(views, "alpha")
        assert live["community"] == {
            "ship": 31,
            "skip": 14,
            "total": 45,
            "ship_pct": 69,
            "voided": 0,
        }
        rebuild(ledger.recorder, CatalogProjection(views), page_size=7)
        assert tool_doc(views, "alpha") == live
    finally:
        runtime.close()


def test_compare_reads_both_tools_at_one_position(settings: Settings) -> None:
    """tool_documents for two slugs returns both documents and the single position they share."""
    runtime = open_runtime(settings)
    try:
        list_tools(runtime.ledger, "alpha", "beta")
        Follower(runtime.ledger.recorder, CatalogProjection(runtime.views)).catch_up()
        at, size, docs = runtime.views.tool_documents(CATALOG, ["alpha", "beta"])
        assert (at, size) == (2, 2)
        assert sorted(orjson.loads(d)["slug"] for d in docs) == ["alpha", "beta"]
        assert runtime.views.tool_documents(CATALOG, ["ghost"]) == (2, 2, [])
    finally:
        runtime.close()


def test_packed_timeline_answers_like_a_fold_across_rows(settings: Settings) -> None:
    """More points per tool than one row holds, committed in pages of random sizes: the
    timeline, every `as_of`, `at` at every point's time, and the page's latest points equal a
    fold of the events; a rebuild writes the very same rows."""
    runtime = open_runtime(settings)
    try:
        ledger, views = runtime.ledger, runtime.views

        def publish_midway(i: int) -> None:
            if i == POINTS_PER_ROW:
                ledger.publish_verdict("alpha", "builder", "B", "ship", "fine", EDITOR)

        events = vote_in_random_commits(
            ledger,
            lambda: CatalogProjection(views),
            seed=64,
            votes=3 * POINTS_PER_ROW + 9,
            beta_every=4,
            small_page=5,
            largest_page=70,
            after_vote=publish_midway,
        )
        replay, states, expected = Catalog(), [], {"alpha": [], "beta": []}
        for event in events:
            states.append({s: t.document() for s, t in replay.tools.items()})
            replay.apply(event)
            for slug, packed in replay.drain().timeline.items():
                expected[slug] += [point_document(slug, p) for p in packed]
        states.append({s: t.document() for s, t in replay.tools.items()})
        assert len(expected["alpha"]) > 2 * POINTS_PER_ROW
        for slug, points in expected.items():
            assert [orjson.loads(d) for d in views.tool_timeline(CATALOG, slug).docs] == points
            page = views.tool_timeline(CATALOG, slug, POINTS_PER_ROW - 3, 70).docs
            assert [orjson.loads(d) for d in page] == [
                p for p in points if p["size"] > POINTS_PER_ROW - 3
            ][:70]
            latest = views.tool_page(CATALOG, slug, 70)["point"].docs
            assert [orjson.loads(d) for d in latest] == points[::-1][:70]
            assert list(views.tool_points(CATALOG, slug, 100)) == [
                p for p in points if p["size"] <= 100
            ]
            for n, state in enumerate(states):
                assert views.tool_as_of(slug, n) == state.get(slug), n
            for point in points:
                assert views.tool_at_time(slug, point["at"]) == states[point["size"]][slug]
        live = point_rows(runtime)
        assert live and all(isinstance(r[1], int) for r in live)
        rebuild(ledger.recorder, CatalogProjection(views), page_size=POINTS_PER_ROW + 1)
        assert point_rows(runtime) == live
    finally:
        runtime.close()


def test_a_catalog_in_the_old_layout_is_rebuilt_at_start(settings: Settings) -> None:
    """A database with the one-row-per-point timeline: it is dropped at start and the catalog
    is followed again from the first event."""

    def old_layout(runtime: Runtime) -> dict:
        list_tools(runtime.ledger, "alpha")
        runtime.ledger.vote("alpha", "voter:a", "ship")
        Follower(runtime.ledger.recorder, CatalogProjection(runtime.views)).catch_up()
        live = tool_doc(runtime.views, "alpha")
        runtime.views.db.execute("CREATE TABLE view_tool_timeline (tool TEXT)")
        return live

    with restarted(settings, old_layout) as (runtime, live):
        assert not runtime.views.db.has_table("view_tool_timeline")
        assert runtime.views.position(CATALOG) == 0
        assert runtime.views.tool_documents(CATALOG).docs == []
        Follower(runtime.ledger.recorder, CatalogProjection(runtime.views)).catch_up()
        assert tool_doc(runtime.views, "alpha") == live
        assert runtime.views.tool_as_of("alpha", 2) == live


def test_a_catalog_without_sort_keys_is_rebuilt_at_start(settings: Settings) -> None:
    """The serving view_tools as it was before pages (no sort-key columns): dropped at start,
    the catalog followed again from the first event, and its pages read in order."""

    def old_layout(runtime: Runtime) -> dict:
        list_tools(runtime.ledger, "alpha", "beta")
        runtime.ledger.vote("beta", "voter:a", "ship")
        Follower(runtime.ledger.recorder, CatalogProjection(runtime.views)).catch_up()
        live = tool_doc(runtime.views, "beta")
        blob, db = runtime.views.db.blob, runtime.views.db
        db.execute("DROP VIEW view_tools")
        db.execute("DROP TABLE view_tools_g1")
        db.execute(
            "CREATE TABLE view_tools_g1 (slug TEXT PRIMARY KEY, position BIGINT NOT NULL, "
            f"listed_at TEXT NOT NULL, doc {blob} NOT NULL)"
        )
        db.execute("CREATE VIEW view_tools AS SELECT * FROM view_tools_g1")
        return live

    with restarted(settings, old_layout) as (runtime, live):
        assert runtime.views.db.has_column("view_tools", "community_pct")
        assert runtime.views.position(CATALOG) == 0
        Follower(runtime.ledger.recorder, CatalogProjection(runtime.views)).catch_up()
        assert tool_doc(runtime.views, "beta") == live
        page = runtime.views.tools_page(CATALOG, Order.COMMUNITY)
        assert [orjson.loads(d)["slug"] for d in page.docs] == ["beta", "alpha"]


def test_the_index_on_full_rows_is_named_from_the_row_size(settings: Settings) -> None:
    """The partial index on full rows' times carries POINTS_PER_ROW in its name, as in its
    predicate; a generation holding the index of the name before is given the new one at
    start, and the old one is dropped."""
    assert str(POINTS_PER_ROW) in FULL_AT_INDEX
    runtime = open_runtime(settings)
    try:
        g = runtime.views.generations.serving(CATALOG).generation
        runtime.views.db.execute(f"DROP INDEX {FULL_AT_INDEX}_g{g}")
        runtime.views.db.execute(
            f"CREATE INDEX view_tool_points_full_at_g{g} ON view_tool_points_g{g} "
            f"(tool, max_at, min_at) WHERE {FULL_ROW}"
        )
    finally:
        runtime.close()
    runtime = open_runtime(settings)
    try:
        found = indexes(runtime)
        assert f"{FULL_AT_INDEX}_g{g}" in found
        assert f"view_tool_points_full_at_g{g}" not in found
    finally:
        runtime.close()
