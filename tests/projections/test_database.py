"""Plain SQL on the ledger's database: a one-statement read on PostgreSQL is one round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.application import Ledger
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
