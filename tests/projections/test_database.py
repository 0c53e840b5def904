"""Plain SQL on the ledger's database: a one-statement read on PostgreSQL is one round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.persistence import InternalError

from domain.application import Ledger
from domain.settings import Settings
from projections.database import Database
from tests.domain.persistence.test_round_trips import one_connection, pool_traced

pytestmark = pytest.mark.postgres


def test_a_read_is_one_round_trip(postgres_url: str, tmp_path: Path) -> None:
    """`fetch` and `fetch_tuples` send one statement in autocommit (in a transaction they were
    three: BEGIN, SELECT, ROLLBACK), and leave the connection idle for the next user."""
    ledger = Ledger(one_connection(postgres_url))
    try:
        db = Database(ledger.recorder)
        with pool_traced(ledger, tmp_path / "trace") as rounds:
            assert db.fetch("SELECT ? AS one", (1,))[0]["one"] == 1
            assert db.fetch_tuples("SELECT ?", (2,)) == [(2,)]
        assert rounds == [2]
        assert db.fetch_tuples("SELECT ?", (3,)) == [(3,)]
    finally:
        ledger.close()


def test_a_read_transaction_sees_one_snapshot(postgres_url: str) -> None:
    """The statements of `transaction(commit=False)` agree: a commit made between two of them
    is seen by neither (under READ COMMITTED the second saw it); and it writes nothing."""
    ledger = Ledger(Settings(database_url=postgres_url, pool_size=2, pool_max_overflow=0))
    try:
        db = Database(ledger.recorder)
        db.execute("CREATE TABLE counter (n int)")
        db.execute("INSERT INTO counter VALUES (1)")
        with db.transaction(commit=False) as c:
            c.execute("SELECT n FROM counter")
            before = c.fetchall()
            db.execute("UPDATE counter SET n = 2")  # on the pool's other connection
            c.execute("SELECT n FROM counter")
            assert c.fetchall() == before == [{"n": 1}]
        with pytest.raises(InternalError, match="read-only"), db.transaction(commit=False) as c:
            c.execute("UPDATE counter SET n = 3")
        assert db.fetch("SELECT n FROM counter") == [{"n": 2}]
    finally:
        ledger.close()


def test_the_snapshot_costs_no_round_trip(postgres_url: str, tmp_path: Path) -> None:
    """A read transaction of one statement is BEGIN, the statement and ROLLBACK: its isolation
    goes with the BEGIN; and the connection goes back to the pool as it came (autocommit, the
    server's default isolation for the next `transaction(commit=True)`)."""
    ledger = Ledger(one_connection(postgres_url))
    try:
        db = Database(ledger.recorder)
        with pool_traced(ledger, tmp_path / "trace") as rounds, db.transaction(commit=False) as c:
            c.execute("SELECT 1 AS one")
            assert c.fetchall() == [{"one": 1}]
        assert rounds == [3]
        with db.transaction(commit=True) as c:
            c.execute("SHOW transaction_isolation")
            assert c.fetchall() == [{"transaction_isolation": "read committed"}]
    finally:
        ledger.close()
