"""`verdict rebuild` in several processes writes exactly what one process writes, on SQLite and
PostgreSQL, and what the live followers wrote."""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from api.bootstrap import open_runtime
from api.server.rebuilding import rebuild_views
from domain.application import Ledger
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit.log import AuditStore
from projections.catalog.fold import CATALOG_VERSION
from projections.catalog.views import CATALOG, FOLDED_TABLES, ViewStore
from projections.following.follower import Follower
from tests.api.server.test_processes import project, stop
from tests.scripts.drill_harness import drill
from tests.serving import ROOT, serving

sys.path.insert(0, str(ROOT / "scripts" / "bench"))
import live_rebuild

pytestmark = pytest.mark.postgres_alone  # rebuilds in several processes, pools each

DERIVED = (*FOLDED_TABLES, "audit_leaf_chunks", "audit_nodes", "view_tracking")


def snapshot(audit: AuditStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every derived row, sorted, bytes as bytes."""
    return {
        table: sorted(
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in audit.db.fetch_tuples(f"SELECT * FROM {table}")  # noqa: S608 - our names
        )
        for table in DERIVED
    }


def test_rebuild_in_two_processes_equals_one_and_the_live_views(settings: Settings) -> None:
    """Live followers, then a rebuild with jobs=2, then jobs=1: the same rows every time, and
    every signed checkpoint still matches."""
    runtime = open_runtime(settings)
    try:
        seed_demo(runtime.ledger)
        for i in range(150):
            runtime.ledger.vote("smollm3", f"voter:{i}", "ship" if i % 3 else "skip")
        for projection in runtime.projections():
            Follower(runtime.ledger.recorder, projection, page_size=17).catch_up()
        live = snapshot(runtime.audit)
        apart = rebuild_views(runtime, jobs=2)
        assert [(r.name, r.position) for r in apart] == [
            ("catalog", runtime.ledger.recorder.max_notification_id()),
            ("audit", runtime.ledger.recorder.max_notification_id()),
        ]
        assert snapshot(runtime.audit) == live
        rebuild_views(runtime, jobs=1)
        assert snapshot(runtime.audit) == live
        assert runtime.audit.mismatched_checkpoints() == []
    finally:
        runtime.close()


# -- live rebuilds: real `verdict serve`, real `verdict rebuild`, real `verdict project` --------

LIVE_EVENTS = 20_000
"""Ballot events in the live tests' ledgers: enough for a rebuild of a few seconds under
readers (the 100k+ figures come from `scripts/bench/live_rebuild.py`, docs/performance.md)."""


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_live_rebuild_is_invisible_to_readers(store: str, tmp_path: Path) -> None:
    """Readers hammering every tool during `verdict rebuild` of a live, voted-on ledger: every
    read 200, no reader ever sees the position go back, and the rebuild exits 0."""
    figures = live_rebuild.measure(store, LIVE_EVENTS, tmp_path, readers=3)
    assert figures.rebuild_exit == 0, (tmp_path / "rebuild.log").read_text()
    assert figures.reads > 500, figures
    assert (figures.errors, figures.went_back) == (0, 0), figures.examples
    assert figures.votes_during > 0, figures


Outdated = Callable[[Settings], int]


@pytest.fixture(scope="module")
def outdated(tmp_path_factory: pytest.TempPathFactory) -> Outdated:
    """outdated_ledger(settings, LIVE_EVENTS); on SQLite built once for the module and copied
    (the two tests that need it only start from it: the copy is the same file)."""
    built: dict[str, tuple[Path, int]] = {}

    def make(settings: Settings) -> int:
        if not settings.database_url.startswith("sqlite:///"):
            return outdated_ledger(settings, LIVE_EVENTS)
        if "sqlite" not in built:
            folder = tmp_path_factory.mktemp("outdated")
            end = outdated_ledger(
                Settings(database_url=f"sqlite:///{folder}/ledger.db"), LIVE_EVENTS
            )
            built["sqlite"] = (folder / "ledger.db", end)
        source, end = built["sqlite"]
        target = Path(settings.database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal"):  # closed, so checkpointed; a WAL left would be copied too
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
        return end

    return make


def outdated_ledger(settings: Settings, events: int) -> int:
    """A ledger of `events` ballot events whose serving catalog was built by folds of the
    version before the running one (as if the code had just raised CATALOG_VERSION)."""
    live_rebuild.build(settings, events)
    runtime = open_runtime(settings)
    try:
        for projection in runtime.projections():
            Follower(runtime.ledger.recorder, projection, page_size=5000).catch_up()
        runtime.views.db.execute(
            "UPDATE view_generations SET version = ? WHERE name = ?", (CATALOG_VERSION - 1, CATALOG)
        )
        return runtime.ledger.recorder.max_notification_id() or 0
    finally:
        runtime.close()


def generations(settings: Settings) -> tuple[int, int, int | None, int]:
    """(serving, version, building, building position) of the catalog, read without writing
    (a whole runtime would take SQLite's write lock for its signing key, and the projection
    process may be stopped holding it)."""
    ledger = Ledger(settings.model_copy(update={"create_tables": False}))
    try:  # one statement: a switch between two reads showed a building generation at 0
        (row,) = ViewStore(ledger.recorder).db.fetch_tuples(
            "SELECT g.serving, g.version, g.building, t.position FROM view_generations g "
            "LEFT JOIN view_tracking t ON t.name = g.name || ':g' || g.building WHERE g.name = ?",
            (CATALOG,),
        )
        return int(row[0]), int(row[1]), row[2], int(row[3] or 0)
    finally:
        ledger.close()


@pytest.mark.slow
def test_a_new_fold_version_rebuilds_by_itself_while_the_old_views_serve(
    settings: Settings, tmp_path: Path, outdated: Outdated
) -> None:
    """A service started with a new CATALOG_VERSION serves the old views (every read 200, and
    /readyz ready, naming the rebuild and its progress), rebuilds beside them, switches, and
    says so in its log."""
    end = outdated(settings)
    log = tmp_path / "serve.log"
    with serving(settings, log) as served, served.http() as http:
        seen: dict[str, Any] | None = None
        deadline = time.monotonic() + 120
        while True:
            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert http.get("/v1/tools/smollm3").status_code == 200
            body = ready.json()
            if "rebuilding" in body:
                seen = body["rebuilding"]
            elif generations(settings)[:3] == (2, CATALOG_VERSION, None):
                break
            assert time.monotonic() < deadline, "no switch in 120 s"
            time.sleep(0.05)
    assert seen is not None, "/readyz never named the rebuild"
    assert seen[CATALOG]["version"] == CATALOG_VERSION
    assert 0 <= seen[CATALOG]["position"] <= seen[CATALOG]["of"] and seen[CATALOG]["of"] >= end
    text = log.read_text()
    assert "catalog: the folds' version differs from the serving views'" in text
    assert text.count("catalog: switched to generation 2") == 1


@pytest.mark.slow
def test_a_projection_killed_mid_rebuild_resumes_and_switches_once(
    settings: Settings, tmp_path: Path, outdated: Outdated
) -> None:
    """`verdict project catalog` rebuilding a new version's views is killed (-9) midway; started
    again it resumes the same generation from its tracked position, and switches once. On
    LIVE_EVENTS (20k, it was 60k): four of the rebuild's 5,000-event pages, so a commit past 0
    with more to fold, and the kill lands where frozen_mid_rebuild stopped it, whatever the
    size (the drill's rebuild kill runs the same on serve's supervised child, with readers)."""
    outdated(settings)
    log = tmp_path / "project.log"
    first = project(settings, CATALOG, log)
    try:
        store = drill.Store("postgres" if settings.is_postgres else "sqlite", settings.database_url)
        serving_before, building, killed_at = drill.frozen_mid_rebuild(store, lambda: first.pid)
    finally:
        first.kill()
        first.wait(timeout=10)
    assert (serving_before, building) == (1, 2), "the rebuild finished before the kill"
    assert generations(settings)[2:] == (building, killed_at), "the kill lost committed progress"
    again = project(settings, CATALOG, log)
    try:
        deadline = time.monotonic() + 120
        while (found := generations(settings))[2] is not None:
            assert found[2] == building, "a second building generation"
            assert found[3] >= killed_at, "the rebuild started again from an earlier position"
            assert time.monotonic() < deadline, f"no switch in 120 s: {log.read_text()}"
            time.sleep(0.05)
        assert found[:2] == (building, CATALOG_VERSION)
    finally:
        assert stop(again) == 0
    text = log.read_text()
    assert text.count("catalog: switched to generation 2") == 1, text
    resumed = re.findall(r"rebuilding generation 2 beside them from log position (\d+)", text)
    assert len(resumed) == 2 and int(resumed[1]) >= killed_at > 0, resumed
