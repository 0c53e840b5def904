"""eventsourcing's SQLite and PostgreSQL recorders, with a save that is conditional on aggregates
it reads but does not write: `ledger.save(ballot, expected_versions={tool.id: tool.version})`.

A vote, a verdict or a comparison is decided on a tool read before the save, so a delisting
stored in between must refuse it. Checking the tool again before the save only narrows that
window; these recorders close it by reading the expected aggregates' last versions INSIDE the
insert transaction, once the store's one write lock is held (SQLite's database write lock;
on PostgreSQL the EXCLUSIVE table lock eventsourcing takes so that commits follow notification
ids), and raise `RecordConflictError` when one has moved, which rolls the save back; the
caller's retry reads afresh and refuses. Under READ COMMITTED that read sees every write
committed before the lock was granted, and none can commit until ours has: a save is ordered
either before the delisting or not at all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ProgrammingError, RecordConflictError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

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
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if kwargs.get("expected_versions") and self.datastore.enable_db_functions:
            raise ProgrammingError("conditional saves need POSTGRES_ENABLE_DB_FUNCTIONS off")
        ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        return ids

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        expected: Expected = kwargs.get("expected_versions") or {}
        if expected and stored_events:
            self._lock_table(curs)  # taken again, at no cost, before the inserts
            curs.execute(
                SQL(
                    "SELECT originator_id, MAX(originator_version) AS version "
                    "FROM {schema}.{table} WHERE originator_id = ANY(%s) GROUP BY originator_id"
                ).format(
                    schema=Identifier(self.datastore.schema),
                    table=Identifier(self.events_table_name),
                ),
                (list(expected),),
            )
            _check(expected, {row["originator_id"]: row["version"] for row in curs.fetchall()})
        super()._insert_events(curs, stored_events, **kwargs)


def _check(expected: Expected, found: Mapping[UUID, int]) -> None:
    moved = [i for i, version in expected.items() if found.get(i) != version]
    if moved:
        raise RecordConflictError(f"changed since read: {', '.join(map(str, moved))}")
