"""`verdict rebuild` in several processes writes exactly what one process writes, on SQLite and
PostgreSQL, and what the live followers wrote."""

from __future__ import annotations

from typing import Any

from api.bootstrap import open_runtime
from api.server.rebuilding import rebuild_views
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit.log import AuditStore
from projections.catalog.views import CATALOG_TABLES
from projections.following.follower import Follower

DERIVED = (*CATALOG_TABLES, "audit_leaf_chunks", "audit_nodes", "view_tracking")


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
