"""The API's polled catalog snapshot: exactly the committed view documents, re-read only when
the catalog's tracked position moves, and then only the documents the change ring names
(projections/catalog/changes.py), by key; every document when the ring cannot prove it holds
every commit past the snapshot. On both stores."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.bootstrap import Runtime, open_runtime
from domain.errors import ToolAlreadyListed
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.catalog import changes
from projections.catalog.changes import CHANGES
from projections.catalog.poller import CatalogPoller
from projections.catalog.views import CATALOG, CatalogProjection
from projections.following.follower import Follower
from projections.following.rebuild import build_and_switch
from tests.builders import EDITOR, list_tools


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


def assert_current(poller: CatalogPoller, runtime: Runtime) -> None:
    """The snapshot is every committed document, at the position it says."""
    assert poller.snapshot is not None
    assert dict(poller.snapshot.tools) == committed(runtime)
    assert poller.snapshot.position == runtime.views.tracking.tracked(CATALOG)[0]


def vote_and_refresh(runtime: Runtime, poller: CatalogPoller, slug: str) -> int:
    """One vote on `slug`, folded and polled: the poller is then current; how many documents
    that refresh read."""
    runtime.ledger.vote(slug, "voter:a", "ship")
    catch_up(runtime)
    poller.refresh()
    assert_current(poller, runtime)
    return poller.documents_read


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
    assert poller.documents_read == 2
    assert_current(poller, runtime)


def test_a_poller_behind_the_ring_reads_every_document(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ring of 4: a poller 3 commits behind reads what they wrote; one 5 behind (its
    position's row overwritten) reads every document, and is exact again."""
    monkeypatch.setattr(changes, "CHANGE_SLOTS", 4)
    list_tools(runtime.ledger, *(f"tool-{n}" for n in range(10)))
    catch_up(runtime)
    poller = CatalogPoller(runtime.views)
    poller.refresh()
    for behind, read in ((3, 3), (5, 10)):
        for n in range(behind):
            runtime.ledger.vote(f"tool-{n}", f"voter:{behind}", "ship")
            catch_up(runtime)
        poller.refresh()
        assert poller.documents_read == read, behind
        assert_current(poller, runtime)


def test_a_switched_generation_is_read_whole(runtime: Runtime) -> None:
    """A rebuild may write other documents at the same positions (new folds): after the
    switch the poller reads every document of the new generation, which has its own ring."""
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
    assert_current(poller, runtime)
    runtime.ledger.vote("beta", "voter:a", "ship")
    catch_up(runtime)
    poller.refresh()
    assert poller.documents_read == 1, "the new generation's ring holds the rebuild's commits"
    assert_current(poller, runtime)


def test_a_generation_made_before_the_ring_gains_one_at_start(settings: Settings) -> None:
    """A store whose serving tables were made before the ring existed gains an empty one when
    a process opens it, and is not rebuilt for it; a poller holding a snapshot from before
    reads every document once (the ring cannot say what was written before it), then only
    what changed."""
    runtime = open_runtime(settings)
    try:
        list_tools(runtime.ledger, "alpha", "beta", "gamma")
        catch_up(runtime)
        poller = CatalogPoller(runtime.views)
        poller.refresh()
        runtime.ledger.vote("alpha", "voter:a", "ship")
        catch_up(runtime)  # a commit the poller has not read, and the ring will not hold
        generation = runtime.views.generations.serving(CATALOG).generation
        runtime.views.db.execute(f"DROP VIEW {CHANGES}")
        runtime.views.db.execute(f"DROP TABLE {CHANGES}_g{generation}")
    finally:
        runtime.close()
    runtime = open_runtime(settings)
    try:
        assert runtime.views.db.has_table(f"{CHANGES}_g{generation}")
        assert not runtime.outdated(CATALOG)
        poller.views = runtime.views
        read = vote_and_refresh(runtime, poller, "beta")  # the ring's first row
        assert read == 3, "the ring cannot say what alpha's commit wrote"
        assert vote_and_refresh(runtime, poller, "gamma") == 1
    finally:
        runtime.close()


def test_a_rebuild_begun_before_the_ring_gains_one_when_it_resumes(runtime: Runtime) -> None:
    """A generation being built by code before the ring lacks its table: the build that
    resumes it creates it, commits into it and switches, and a poller converges."""
    list_tools(runtime.ledger, "alpha", "beta")
    catch_up(runtime)
    poller = CatalogPoller(runtime.views)
    poller.refresh()
    begun = CatalogProjection(runtime.views).beside().slot.generation
    runtime.views.db.execute(f"DROP TABLE {CHANGES}_g{begun}")
    build_and_switch(runtime.ledger.recorder, [CatalogProjection(runtime.views).beside()])
    assert runtime.views.generations.serving(CATALOG).generation == begun
    poller.refresh()
    assert_current(poller, runtime)
    assert vote_and_refresh(runtime, poller, "alpha") == 1


def indexes(runtime: Runtime) -> set[str]:
    db = runtime.views.db
    if db.is_postgres:
        rows = db.fetch(
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()"
        )
    else:
        rows = db.fetch("SELECT name FROM sqlite_master WHERE type = 'index'")
    return {r["name"] for r in rows}


def test_the_position_index_is_dropped_at_start(settings: Settings) -> None:
    """A generation that still has the index on view_tools.position (every commit moved it)
    loses it when a process opens the store; nothing is rebuilt for it."""
    runtime = open_runtime(settings)
    try:
        generation = runtime.views.generations.serving(CATALOG).generation
        index = f"view_tools_position_g{generation}"
        runtime.views.db.execute(f"CREATE INDEX {index} ON view_tools_g{generation} (position)")
        assert index in indexes(runtime)
    finally:
        runtime.close()
    runtime = open_runtime(settings)
    try:
        assert not any("position" in name for name in indexes(runtime) if "view_tools" in name)
        assert not runtime.outdated(CATALOG)
    finally:
        runtime.close()


def test_a_refresh_reads_the_changed_documents_by_key_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's plan for every statement of a refresh that reads view_tools is a look-up of its
    primary key per slug (the ring named them), never a scan nor another index."""
    statements: list[str] = []
    create = SQLiteConnectionPool._create_connection

    def traced(pool: SQLiteConnectionPool) -> SQLiteConnection:
        connection = create(pool)
        connection._sqlite_conn.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(SQLiteConnectionPool, "_create_connection", traced)
    runtime = open_runtime(Settings(database_url=f"sqlite:///{tmp_path}/ledger.db"))
    try:
        list_tools(runtime.ledger, *(f"tool-{n:02d}" for n in range(40)))
        catch_up(runtime)
        poller = CatalogPoller(runtime.views)
        poller.refresh()
        runtime.ledger.vote("tool-03", "voter:a", "ship")
        catch_up(runtime)
        statements.clear()
        poller.refresh()
        assert poller.documents_read == 1
        reads = [s for s in statements if "view_tools" in s and s.lstrip().startswith("SELECT")]
        assert reads, statements
        for statement in reads:
            rows = runtime.views.db.fetch("EXPLAIN QUERY PLAN " + statement)
            plan = " ".join(r["detail"] for r in rows)
            assert "USING INDEX sqlite_autoindex_view_tools_g1_1 (slug=?)" in plan, plan
            assert "SCAN view_tools" not in plan, plan
    finally:
        runtime.close()


SLUGS = [f"tool-{n}" for n in range(5)]
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("list"), st.sampled_from(SLUGS)),
        st.tuples(st.just("vote"), st.sampled_from(SLUGS), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("amend"), st.sampled_from(SLUGS)),
        st.tuples(st.just("commit"), st.integers(1, 4)),
        st.tuples(st.just("refresh"), st.integers(0, 1)),
    ),
    min_size=10,
    max_size=40,
)


def test_pollers_always_hold_the_committed_documents(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any votes, listings and amendments (a tool is listed before its first vote or
    amendment), committed in pages of any size by one writer, and
    pollers refreshed at any time (one rarely, so it falls more than the ring's 4 commits
    behind): after every refresh a poller holds every document as committed, at the position
    it says. Examples run one after another on one store, each with new pollers."""
    monkeypatch.setattr(changes, "CHANGE_SLOTS", 4)
    listed: set[str] = set()
    takes = itertools.count()
    behind = []
    """Examples whose third poller missed more commits than the ring holds."""

    @hypothesis_settings(max_examples=25)
    @given(steps=STEPS)
    def run(steps: list[tuple[object, ...]]) -> None:
        pollers = [CatalogPoller(runtime.views) for _ in range(3)]
        for poller in pollers:
            poller.refresh()  # the third only again at the end
        projection = runtime.projection(CATALOG)
        first = last_seq(runtime)
        for step in steps:
            kind, *args = step
            if kind in ("list", "vote", "amend") and args[0] not in listed:
                with contextlib.suppress(ToolAlreadyListed):  # listed by an earlier example
                    list_tools(runtime.ledger, str(args[0]))
                listed.add(str(args[0]))
            if kind == "vote":
                choice = "ship" if args[2] else "skip"
                runtime.ledger.vote(str(args[0]), f"voter:{args[1]}", choice)
            elif kind == "amend":
                changes_ = {"tagline": f"{args[0]} take {next(takes)}"}
                runtime.ledger.amend_listing(str(args[0]), changes_, "better", EDITOR)
            elif kind == "commit":
                pages = int(str(args[0]))
                Follower(runtime.ledger.recorder, projection, page_size=pages).catch_up()
            elif kind == "refresh":
                poller = pollers[int(str(args[0]))]
                poller.refresh()
                assert_current(poller, runtime)
        for poller in pollers:
            poller.refresh()
            assert_current(poller, runtime)
        if last_seq(runtime) - first > changes.CHANGE_SLOTS:
            behind.append(pollers[2].documents_read)

    run()
    assert behind, "no example left a poller behind the ring"


def last_seq(runtime: Runtime) -> int:
    rows = runtime.views.db.fetch(f"SELECT MAX(seq) AS seq FROM {CHANGES}")  # noqa: S608 - our name
    return int(rows[0]["seq"] or 0)


@pytest.mark.postgres
def test_ballot_only_commits_are_hot_updates_on_postgres(postgres_url: str) -> None:
    """PostgreSQL without autovacuum (as our server runs): 600 commits of votes that leave the
    community score where it is (every voter ships) update view_tools without an index entry
    (HOT), the old versions pruned in their page, so the heap stops growing. With the index
    on `position` none was HOT, and the heap grew from 1 page to 4 between commits 100 and 600
    (with its indexes and free space map, 144 KB to 208 KB)."""
    settings = Settings(database_url=postgres_url)
    runtime = open_runtime(settings)
    try:
        list_tools(runtime.ledger, "alpha", "beta", "gamma")
        catch_up(runtime)
        table = f"view_tools_g{runtime.views.generations.serving(CATALOG).generation}"
        projection = runtime.projection(CATALOG)
        follower = Follower(runtime.ledger.recorder, projection)
        sizes = []
        for n in range(600):
            runtime.ledger.vote(("alpha", "beta", "gamma")[n % 3], f"voter:{n}", "ship")
            follower.catch_up()
            if n in (99, 599):
                size = runtime.views.db.fetch("SELECT pg_relation_size(?) AS heap", (table,))
                sizes.append(int(size[0]["heap"]))
    finally:
        runtime.close()  # its backends exit, which flushes their statistics
    runtime = open_runtime(settings)
    try:
        db = runtime.views.db
        stats = {"n_tup_upd": 0}
        for _ in range(100):  # a backend's statistics reach the shared ones as it exits
            db.fetch("SELECT pg_stat_clear_snapshot()")
            stats = db.fetch(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = ?",
                (table,),
            )[0]
            if stats["n_tup_upd"] >= 600:
                break
            time.sleep(0.05)
        assert stats["n_tup_upd"] >= 600, stats
        assert stats["n_tup_hot_upd"] >= 0.9 * stats["n_tup_upd"], stats
        # One page more at most: a prune can wait on a snapshot elsewhere on a busy server.
        assert sizes[1] - sizes[0] <= 8192, sizes
    finally:
        runtime.close()
