"""Plain SQL on the ledger's own database, for the tables that are not events (views, keys).
Uses eventsourcing's connection pool, so one process holds one pool per store.

A read of one statement runs in autocommit on PostgreSQL (the pool's connections are): one
round trip, where a transaction made it three (BEGIN, SELECT, ROLLBACK), each waiting for the
server's process to be scheduled on a busy machine. One statement sees one snapshot anyway; a
read of several statements that must agree opens `transaction(commit=False)`: on PostgreSQL
a READ ONLY, REPEATABLE READ transaction (eventsourcing's is READ COMMITTED, where each
statement has its own snapshot and a commit between two of them tears the read); on SQLite
its deferred transaction reads one snapshot from its first statement to its end."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresRecorder
from psycopg import Connection, IsolationLevel
from psycopg.rows import tuple_row


class Database:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        # Both recorders (SQLite, PostgreSQL) have a datastore; their base class declares none.
        self.datastore: Any = recorder.datastore  # type: ignore[attr-defined]  # see above
        self.is_postgres = isinstance(recorder, PostgresRecorder)
        self.blob = "BYTEA" if self.is_postgres else "BLOB"

    def sql(self, statement: str) -> str:
        """Statements are written with `?` placeholders; PostgreSQL wants `%s`."""
        return statement.replace("?", "%s") if self.is_postgres else statement

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Any]:
        """A cursor in one transaction, committed at the end if `commit`; a read (not `commit`)
        sees one snapshot, see above."""
        if commit or not self.is_postgres:
            with self.datastore.transaction(commit=commit) as cursor:
                yield cursor
            return
        with (
            self.datastore.get_connection() as conn,
            _one_snapshot(conn),
            conn.transaction(force_rollback=True),
        ):
            yield conn.cursor()

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """A cursor for one statement: autocommit on PostgreSQL, a transaction on SQLite
        (in process, it costs no round trip)."""
        if self.is_postgres:
            with self.datastore.get_connection() as conn, conn.cursor() as cursor:
                yield cursor
        else:
            with self.transaction(commit=False) as cursor:
                yield cursor

    def fetch(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._reading() as c:
            c.execute(self.sql(statement), params)
            return list(c.fetchall())

    def fetch_tuples(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """`fetch`, rows as plain tuples: for the hot paths, where looking columns up by name
        costs more than the query (a replay reads millions of rows)."""
        with self._reading() as c:
            if self.is_postgres:
                c.row_factory = tuple_row
                c.execute(self.sql(statement), params)
                return list(c.fetchall())
            raw = c.sqlite_cursor
            raw.row_factory = None
            raw.execute(statement, params)
            return list(raw.fetchall())

    def has_table(self, name: str) -> bool:
        """Whether the table exists (in the current schema on PostgreSQL)."""
        if self.is_postgres:
            statement = (
                "SELECT 1 FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_name = ?"
            )
        else:
            statement = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return bool(self.fetch(statement, (name,)))

    def has_column(self, table: str, column: str) -> bool:
        """Whether the table has the column (in the current schema on PostgreSQL)."""
        if self.is_postgres:
            statement = (
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = ? AND column_name = ?"
            )
        else:
            statement = "SELECT 1 FROM pragma_table_info(?) WHERE name = ?"
        return bool(self.fetch(statement, (table, column)))

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        with self.transaction(commit=True) as c:
            c.execute(self.sql(statement), params)


@contextmanager
def _one_snapshot(conn: Connection[Any]) -> Iterator[None]:
    """The transactions `conn` begins in the block are READ ONLY, REPEATABLE READ: psycopg
    puts both in its BEGIN, so they cost no round trip. The pooled connection gets its own
    settings back after (a broken one is thrown away by the pool, and refuses the change)."""
    isolation, read_only = conn.isolation_level, conn.read_only
    conn.isolation_level, conn.read_only = IsolationLevel.REPEATABLE_READ, True
    try:
        yield
    finally:
        if not conn.broken:
            conn.isolation_level, conn.read_only = isolation, read_only
