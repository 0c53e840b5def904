"""The vote writer's two statements a batch, its one query for the batch's aggregates and its
conditional insert, on a PostgreSQL store that was never analysed (autovacuum is off on many
servers): their plans must not depend on statistics. An `= ANY(array)` of a full batch was
planned as a sequential scan of the whole event table (issue 17: 179 votes/s at 5,000 tools);
a join on the array, one index look-up per id, is the plan whatever the planner knows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql

from domain.application import Ledger
from domain.ids import tool_id
from domain.persistence.event_table import EventTable
from domain.settings import Settings
from tests.builders import list_tools

pytestmark = pytest.mark.postgres

FILLER = 100_000
"""Rows enough that a sequential scan is what a planner without statistics picks for a full
batch of ids."""


@pytest.fixture
def ledger(postgres_url: str) -> Iterator[Ledger]:
    ledger = Ledger(Settings(database_url=postgres_url))
    with psycopg.connect(postgres_url, autocommit=True) as c:
        c.execute("ALTER TABLE ledger_events SET (autovacuum_enabled = false)")
        c.execute(
            "INSERT INTO ledger_events (originator_id, originator_version, topic, state) "
            "SELECT gen_random_uuid(), 1, 'filler', '\\x00'::bytea "
            "FROM generate_series(1, %s)",
            (FILLER,),
        )
        [(tuples,)] = c.execute(
            "SELECT reltuples FROM pg_class WHERE relname = 'ledger_events'"
        ).fetchall()
        assert tuples < 0, "the event table must never have been analysed"
    yield ledger
    ledger.close()


def plan(ledger: Ledger, ids: list[UUID]) -> str:
    return EventTable(ledger).explain(ids, {})


@pytest.mark.parametrize("batch", [1, 20, 500])
def test_a_batch_is_index_look_ups_without_statistics(ledger: Ledger, batch: int) -> None:
    """1, 20 or 500 ids (the largest batch): the plan reads the primary key's index, never
    the whole table, and is not compiled first (without statistics its estimated cost is
    far above `jit_above_cost`: JIT took ~0.9 s for a 25 ms read of 500 ids)."""
    found = plan(ledger, [uuid4() for _ in range(batch)])
    assert "Seq Scan on ledger_events" not in found, found
    assert "ledger_events_pkey" in found, found
    assert "JIT" not in found, found


def test_it_reads_the_events_after_each_given_version(ledger: Ledger) -> None:
    """Through the same statement: each aggregate's events after the version asked for, in
    version order; an aggregate with none is left out."""
    list_tools(ledger, "alpha", "beta")
    ledger.amend_listing("alpha", {"tagline": "now faster"}, "because", "editor:test")
    table = EventTable(ledger)
    alpha, beta = tool_id("alpha"), tool_id("beta")
    found = table.events([alpha, beta, uuid4()], {alpha: 1, beta: 1})
    assert list(found) == [alpha]
    assert [e.originator_version for e in found[alpha]] == [2]
    assert [e.originator_version for e in table.events([alpha], {})[alpha]] == [1, 2]


@pytest.mark.parametrize("batch", [1, 500])
def test_the_conditional_insert_checks_versions_by_index(ledger: Ledger, batch: int) -> None:
    """The save's check of the tools a batch read (up to one a vote) looks up each id's last
    version in the primary key's index, once for the whole INSERT, and is not compiled."""
    recorder: Any = ledger.recorder
    events = ([uuid4() for _ in range(batch)], [1] * batch, ["t"] * batch, [b"{}"] * batch)
    ids = [uuid4() for _ in range(batch)]
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            sql.SQL("EXPLAIN ") + recorder.conditional_insert, (*events, ids, [1] * batch)
        )
        found = "\n".join(row["QUERY PLAN"] for row in cursor.fetchall())
    assert "Seq Scan on ledger_events" not in found, found
    assert "Index Only Scan Backward using ledger_events_pkey" in found, found
    assert "One-Time Filter" in found, found
    assert "JIT" not in found, found
