"""A full disk under the SQLite file (a real tmpfs, mounted here: the suite runs as root; a
mount that fails fails the test, it is not skipped): votes are refused with 503 problem+json
`storage-full` and Retry-After, nothing acknowledged is lost, and votes are stored again once
space returns, with nothing restarted. scripts/drill.py's disk_full runs the same against a
real `verdict serve` under load (tests/scripts/test_drill.py)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg.errors
import pytest
from eventsourcing.persistence import OperationalError

from api.problems import disk_full
from domain.application import Ledger
from domain.settings import Settings
from tests.scripts.drill_harness import app_client, drill, seeded


def test_a_full_disk_refuses_votes_with_503_and_recovers_by_itself(tmp_path: Path) -> None:
    """Votes flip ship/skip (each one writes) until the full disk refuses one; then the filler
    goes and the next vote is stored; every acknowledged vote is in the store."""
    with drill.small_disk(tmp_path / "disk", 8) as disk:
        settings = Settings(database_url=f"sqlite:///{disk}/ledger.db")
        seeded(settings)
        with app_client(settings) as client:
            token = client.post("/v1/voters").json()["token"]
            auth = {"Authorization": f"Bearer {token}"}

            def vote(choice: str) -> tuple[int, dict[str, str], dict[str, object]]:
                answer = client.put("/v1/tools/smollm3/vote", json={"choice": choice}, headers=auth)
                return answer.status_code, dict(answer.headers), answer.json()

            acknowledged = [vote("ship")[2]["receipt"]]
            filler = disk / "filler"
            drill.fill_disk(filler)
            refused = None
            for n in range(2000):
                status, headers, body = vote(("skip", "ship")[n % 2])  # acknowledged: ship
                if status != 200:
                    refused = (status, headers, body)
                    break
                acknowledged.append(body["receipt"])
            assert refused is not None, "2,000 votes were all stored on a full disk"
            status, headers, body = refused
            assert status == 503, body
            assert headers["content-type"] == "application/problem+json"
            assert int(headers["retry-after"]) >= 1
            assert body["type"] == "/problems/storage-full"
            assert "full" in str(body["detail"])
            filler.unlink()
            status, _, body = vote(("ship", "skip")[len(acknowledged) % 2])  # the other one
            assert status == 200, body
            acknowledged.append(body["receipt"])
        ledger = Ledger(settings)
        try:
            stored = {n.id for n in ledger.recorder.select_notifications(1, 100_000)}
        finally:
            ledger.close()
        positions = {r["position"] for r in acknowledged}  # type: ignore[index]
        assert None not in positions and positions <= stored


def test_both_stores_full_disk_errors_are_recognised_through_the_wrapper() -> None:
    """SQLite's SQLITE_FULL and PostgreSQL's disk_full, wrapped as eventsourcing wraps them,
    are a full disk; another SQLite error or a lost connection is not."""
    assert disk_full(wrapped(sqlite_error("INSERT INTO t VALUES (zeroblob(100000))")))
    assert disk_full(wrapped(psycopg.errors.DiskFull("could not extend file")))
    assert not disk_full(wrapped(sqlite_error("SELECT * FROM nowhere")))
    assert not disk_full(wrapped(psycopg.OperationalError("server closed the connection")))


def sqlite_error(sql: str) -> sqlite3.Error:
    """The driver's own error for `sql` on a database of at most two pages (SQLITE_FULL when it
    needs more): its result code is set by SQLite, not by us."""
    with closing(sqlite3.connect(":memory:")) as db:
        db.execute("PRAGMA max_page_count = 2")
        db.execute("CREATE TABLE t (x)")
        with pytest.raises(sqlite3.OperationalError) as raised:
            db.execute(sql)
    return raised.value


def wrapped(error: BaseException) -> OperationalError:
    """`error` as eventsourcing's recorders raise it."""
    try:
        raise OperationalError(error) from error
    except OperationalError as wrapper:
        return wrapper
