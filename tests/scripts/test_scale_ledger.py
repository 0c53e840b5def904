"""scripts/bench/scale_ledger.py on PostgreSQL: the catalog ledger is `verdict copy` of the
SQLite one, so the same events at the same positions, its views folded and its statistics
gathered; a second run finds it cached."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from api.server.copying import RawEvents
from domain.application import Ledger
from domain.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL
from tests.scripts.test_bench import _run

pytestmark = pytest.mark.postgres


def _events(url: str) -> list[tuple[object, ...]]:
    ledger = Ledger(Settings(database_url=url, group_commit=False, create_tables=False))
    try:
        return list(RawEvents(ledger.recorder).page(0, 10_000))
    finally:
        ledger.close()


def test_the_postgres_ledger_is_a_copy_of_the_sqlite_one(tmp_path: Path) -> None:
    """20 tools and 700 events (a number no other test builds, so the database's name is this
    test's alone): every event row for row, the views at the end of the log, the event table
    analysed; then cached."""
    tools, events = 20, 700 + uuid.uuid4().int % 100
    argv = ["postgres", "--tools", str(tools), "--events", str(events)]
    argv += ["--cache", str(tmp_path), "--postgres-url", POSTGRES_ADMIN_URL]
    built = json.loads(_run("scale_ledger.py", *argv, timeout=300).splitlines()[-1])
    database = built["database"]
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + database
    try:
        assert not built["cached"]
        assert built["copy"]["events"] == events
        assert _events(url) == _events(f"sqlite:///{built['sqlite']['path']}")
        with psycopg.connect(url) as conn:
            positions = conn.execute("SELECT name, position FROM view_tracking").fetchall()
            [(analysed,)] = conn.execute(
                "SELECT reltuples FROM pg_class WHERE relname = 'ledger_events'"
            ).fetchall()
        assert dict(positions) == {"catalog": events, "audit": events}
        assert analysed == events
        again = json.loads(_run("scale_ledger.py", *argv, timeout=60).splitlines()[-1])
        assert again == {**again, "cached": True, "database": database}
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
