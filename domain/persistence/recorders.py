"""eventsourcing's SQLite and PostgreSQL recorders, with a save that is conditional on aggregates
it reads but does not write: `ledger.save(ballot, expected_versions={tool.id: tool.version})`.

A vote, a verdict or a comparison is decided on a tool read before the save, so a delisting
stored in between must refuse it. Checking the tool again before the save only narrows that
window; these recorders close it by reading the expected aggregates' last versions INSIDE the
insert transaction, once the store's one write lock is held (SQLite's database write lock;
on PostgreSQL the EXCLUSIVE table lock eventsourcing takes so that commits follow notification
ids), and raise `RecordConflictError` when one has moved: nothing of the save is stored, and
the caller's retry reads afresh and refuses. Under READ COMMITTED that read sees every write
committed before the lock was granted, and none can commit until ours has: a save is ordered
either before the delisting or not at all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    RecordConflictError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

from domain.persistence.liveness import install as install_liveness_check
from domain.persistence.round_trip import one_round_trip

Expected = Mapping[UUID, int]
"""Aggregate id → the version the decision read; the save conflicts unless each still ends there."""


class ConditionalSQLiteRecorder(SQLiteApplicationRecorder):
    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        expected: Expected = kwargs.get("expected_versions") or {}
        if expected and stored_events:  # the INSERT above took the write lock
            marks = ",".join("?" * len(expected))
            c.execute(
                f"SELECT originator_id, MAX(originator_version) AS version "  # noqa: S608 - the recorder's table name
                f"FROM {self.events_table_name} WHERE originator_id IN ({marks}) "
                "GROUP BY originator_id",
                [i.hex for i in expected],
            )
            found = {UUID(row["originator_id"]): row["version"] for row in c.fetchall()}
            _check(expected, found)
        return ids


class ConditionalPostgresRecorder(PostgresApplicationRecorder):
    """A save is ONE round trip: BEGIN, the table lock, NOTIFY, the INSERT and COMMIT go to the
    server in one pipeline (eventsourcing's save syncs around its transaction and after the
    INSERT: five round trips, each waiting for the server to be scheduled on a busy machine).
    The version check is part of the INSERT: it inserts nothing unless every expected
    aggregate still ends at its version (a look-up of the primary key's last entry per id,
    whatever the planner knows), and a save that inserted nothing conflicts. The statement's
    snapshot is taken once the table lock is granted, as a separate SELECT's was. The pool's
    pre-ping pings only a connection with something to read (domain/persistence/liveness.py)."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        install_liveness_check(datastore)
        table = SQL("{schema}.{table}").format(
            schema=Identifier(datastore.schema), table=Identifier(self.events_table_name)
        )
        self._notify = SQL("NOTIFY {}").format(Identifier(self.channel_name))
        # Columns as arrays in binary: psycopg dumps an array of the composite stored event
        # as text, element by element in Python (a quarter of the vote writer's time).
        self.conditional_insert = SQL(
            "INSERT INTO {table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "WHERE NOT EXISTS (SELECT 1 FROM unnest(%b::{id}[], %b::bigint[]) AS x(id, version) "
            "WHERE x.version IS DISTINCT FROM (SELECT originator_version FROM {table} "
            "WHERE originator_id = x.id ORDER BY originator_version DESC LIMIT 1)) "
            "RETURNING notification_id"
        ).format(table=table, id=Identifier(datastore.originator_id_type))

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        expected: Expected = kwargs.get("expected_versions") or {}
        if self.datastore.enable_db_functions:
            if expected:
                raise ProgrammingError("conditional saves need POSTGRES_ENABLE_DB_FUNCTIONS off")
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        if not stored_events:
            return None
        inserted: list[int] = self._insert_conditionally(stored_events, expected)
        return inserted

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as eventsourcing's
    def _insert_conditionally(
        self, stored_events: Sequence[StoredEvent], expected: Expected
    ) -> list[int]:
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
            list(expected),
            list(expected.values()),
        )
        with self.datastore.get_connection() as conn:
            inserted = conn.cursor()
            with one_round_trip(conn):
                for statement in self.lock_table_statements:
                    conn.execute(statement, prepare=True)
                # A refused save commits this too: its followers read one empty page, rarely;
                # not notifying would cost every save a check inside the store's write lock.
                conn.execute(self._notify)
                inserted.execute(self.conditional_insert, columns)
            ids = [row["notification_id"] for row in inserted.fetchall()]
        if len(ids) < len(stored_events):  # the check held them back: nothing was stored
            raise RecordConflictError(f"changed since read: one of {', '.join(map(str, expected))}")
        return ids


def _check(expected: Expected, found: Mapping[UUID, int]) -> None:
    moved = [i for i, version in expected.items() if found.get(i) != version]
    if moved:
        raise RecordConflictError(f"changed since read: {', '.join(map(str, moved))}")
