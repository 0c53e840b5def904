"""The vote writer's round trips to PostgreSQL, counted on the wire (libpq's trace: one
ReadyForQuery answers each sync): a batch is its read and its save, one round trip each, the
pool's pre-ping included; and what a failed transaction leaves behind."""

from __future__ import annotations

import logging
import os
import resource
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq

from domain.application import Ledger
from domain.errors import ToolDelisted
from domain.persistence.liveness import check_if_stirred
from domain.persistence.round_trip import one_round_trip
from domain.settings import Settings
from tests.builders import DelistedBeforeSave, list_tools, stored_after_delisting

pytestmark = pytest.mark.postgres


def one_connection(url: str) -> Settings:
    """A ledger whose pool holds exactly one connection, so that tracing it sees everything."""
    return Settings(database_url=url, pool_size=1, pool_max_overflow=0)


@contextmanager
def traced(conn: psycopg.Connection[Any], path: Path) -> Iterator[list[int]]:
    """Trace `conn`'s messages in the block; the list gets the number of round trips."""
    rounds: list[int] = []
    with path.open("wb") as out:
        conn.pgconn.trace(out.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield rounds
        finally:
            conn.pgconn.untrace()
    rounds.append(sum("\tReadyForQuery\t" in line for line in path.read_text().splitlines()))


@contextmanager
def pool_traced(ledger: Ledger, path: Path) -> Iterator[list[int]]:
    """Trace the only connection of `ledger`'s pool while the block uses it."""
    pool: Any = ledger.recorder.datastore.pool  # type: ignore[attr-defined]
    conn = pool.getconn()
    try:
        with traced(conn, path) as rounds:
            pool.putconn(conn)
            yield rounds
            conn = pool.getconn()
    finally:
        pool.putconn(conn)


def test_a_vote_batch_is_two_round_trips(postgres_url: str, tmp_path: Path) -> None:
    """Read the batch's ballots and tools, then save: one round trip each, no pings (the
    store answered 12 a batch before: BEGIN, SET, SELECT and ROLLBACK one by one, a ping
    before each checkout, a SELECT of the versions, then the insert's syncs)."""
    ledger = Ledger(one_connection(postgres_url))
    try:
        list_tools(ledger, "alpha")
        ledger.vote("alpha", "voter:first", "ship")  # the writer has read the tool
        with pool_traced(ledger, tmp_path / "trace") as rounds:
            receipt = ledger.vote("alpha", "voter:second", "skip")
        assert receipt.outcome == "cast"
        assert rounds == [2]
    finally:
        ledger.close()


def test_a_conflicting_save_stores_nothing_and_leaves_a_clean_connection(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A save whose tool was delisted after it was read inserts nothing and conflicts; the
    vote is then refused on the tool as it is now, and the one connection went back to the
    pool idle (psycopg_pool warns when it must roll one back) and serves the next vote."""
    ledger = DelistedBeforeSave(one_connection(postgres_url), "alpha")
    try:
        list_tools(ledger, "alpha", "beta")
        caplog.set_level(logging.WARNING, logger="psycopg.pool")
        with pytest.raises(ToolDelisted):
            ledger.vote("alpha", "voter:v", "ship")
        assert stored_after_delisting(ledger.recorder, "alpha") == []
        assert ledger.vote("beta", "voter:v", "ship").outcome == "cast"
        assert not [r for r in caplog.records if "rolling back" in r.getMessage()]
    finally:
        ledger.close()


def test_a_failed_statement_rolls_the_whole_transaction_back(postgres_url: str) -> None:
    """In one round trip, a statement that fails makes the server skip the rest, COMMIT
    included; the error is raised and the connection is idle again, nothing stored."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (k int PRIMARY KEY)")

        def insert_twice() -> None:
            with one_round_trip(conn):
                conn.execute("INSERT INTO t VALUES (1)")
                conn.execute("INSERT INTO t VALUES (1)")

        with pytest.raises(psycopg.errors.UniqueViolation):
            insert_twice()
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert conn.execute("SELECT count(*) FROM t").fetchall() == [(0,)]


def test_a_quiet_connection_is_checked_without_a_round_trip(
    postgres_url: str, tmp_path: Path
) -> None:
    """The pre-ping of a healthy idle connection sends nothing."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        with traced(conn, tmp_path / "trace") as rounds:
            check_if_stirred(conn)
        assert rounds == [0]


def test_a_connection_the_server_closed_fails_the_check(postgres_url: str) -> None:
    """A terminated backend (what a restart does to every pooled connection) is caught before
    use, so the pool hands out another and the request does not fail."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        [(pid,)] = conn.execute("SELECT pg_backend_pid()").fetchall()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 5
        while not select.select([conn.fileno()], [], [], 0.05)[0]:
            assert time.monotonic() < deadline, "the server never closed the connection"
        with pytest.raises(psycopg.OperationalError):
            check_if_stirred(conn)


@contextmanager
def descriptors_taken_below(limit: int) -> Iterator[None]:
    """Hold every free file descriptor below `limit` in the block (the lowest free one is the
    next opened), so the next one opened is `limit` or more."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < limit + 100:
        pytest.skip(f"ulimit -n is {soft}: too few to open {limit} descriptors")
    taken = [os.open(os.devnull, os.O_RDONLY)]
    try:
        while taken[-1] < limit - 1:
            taken.append(os.dup(taken[0]))
        yield
    finally:
        for fd in taken:
            os.close(fd)


def test_a_connection_on_a_descriptor_past_1024_is_checked(postgres_url: str) -> None:
    """`select` refuses a descriptor of 1024 or more; the check works for any: a live
    connection passes it, one the server closed fails it."""
    with descriptors_taken_below(1100), psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.fileno() >= 1024
        check_if_stirred(conn)
        [(pid,)] = conn.execute("SELECT pg_backend_pid()").fetchall()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        assert poller.poll(5000), "the server never closed the connection"
        with pytest.raises(psycopg.OperationalError):
            check_if_stirred(conn)


def test_votes_go_on_after_every_connection_was_terminated(postgres_url: str) -> None:
    """The server dropping every pooled connection costs no failed vote."""
    ledger = Ledger(Settings(database_url=postgres_url))
    try:
        list_tools(ledger, "alpha")
        ledger.vote("alpha", "voter:a", "ship")
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        time.sleep(0.2)
        assert ledger.vote("alpha", "voter:b", "skip").outcome == "cast"
    finally:
        ledger.close()
