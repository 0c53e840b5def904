"""Many aggregates' stored events in ONE query on eventsourcing's own table.

eventsourcing 9.5 reads one aggregate per query (`Repository.get`), each in its own transaction;
the vote writer needs every ballot of a batch and the tools they name, so it asks for them all
at once here. The rows are eventsourcing's: decoded by the application's own mapper into its
domain events, so what comes back is exactly what `Repository.get` would rebuild
(tests/domain/persistence/test_group_commit.py holds the two equal through the writer's outcomes).
The table layout is eventsourcing 9.5's, as in projections/following/event_reader.py."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row

from domain.persistence.round_trip import one_round_trip

NO_JIT = "SET LOCAL jit = off"
"""Run before the read, in its transaction (the plan `explain` shows, and `events`): without
statistics its estimated cost is far above `jit_above_cost`, and compiling took ~0.9 s for a
read that runs in milliseconds."""

Row = tuple[Any, ...]
"""(originator id, version, topic, state), as the event table holds them."""


class EventTable:
    def __init__(self, app: Application[UUID]) -> None:
        recorder: Any = app.recorder
        self.mapper = app.mapper
        self.datastore = recorder.datastore
        self.postgres = isinstance(recorder, PostgresRecorder)
        self.table: str = recorder.events_table_name
        # One look-up of the primary key per id: the LATERAL subquery (kept a subquery by
        # OFFSET 0) filters on both key columns for its one id, so the index is the only
        # sensible plan whatever the planner knows; `= ANY(array)` or a plain join on
        # unnest() are costed from statistics, and without them a full batch of ids was
        # planned as a sequential scan of the whole table (and compiled by JIT, NO_JIT).
        self._postgres_select = (
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "  # noqa: S608 - the recorder's table name
            "FROM unnest(%s::uuid[], %s::bigint[]) AS q(id, after) CROSS JOIN LATERAL ("
            f"SELECT originator_id, originator_version, topic, state FROM {self.table} "
            "WHERE originator_id = q.id AND originator_version > q.after OFFSET 0) AS e "
            "ORDER BY e.originator_version"
        )

    def postgres_statement(
        self, ids: Collection[UUID], after: dict[UUID, int]
    ) -> tuple[str, tuple[list[UUID], list[int]]]:
        """The PostgreSQL statement of `events` and its parameters (tests read its plan)."""
        unique = list(dict.fromkeys(ids))
        return self._postgres_select, (unique, [after.get(i, 0) for i in unique])

    def explain(self, ids: Collection[UUID], after: dict[UUID, int]) -> str:
        """PostgreSQL's plan for `events(ids, after)`, as `events` runs it (for the tests)."""
        statement, params = self.postgres_statement(ids, after)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(NO_JIT)
            cursor.execute("EXPLAIN " + statement, params)
            return "\n".join(row["QUERY PLAN"] for row in cursor.fetchall())

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the recorder's
    def events(self, ids: Collection[UUID], after: dict[UUID, int]) -> dict[UUID, list[Any]]:
        """The domain events of each aggregate in `ids` after version `after.get(id, 0)`, in
        version order; aggregates with no such events are left out. A lost connection is
        retried like eventsourcing's own reads (10 attempts, 0.2 s apart)."""
        if not ids:
            return {}
        rows = self._postgres_rows(ids, after) if self.postgres else self._sqlite_rows(ids)
        found: dict[UUID, list[Any]] = {}
        for originator, version, topic, state in rows:
            if not isinstance(originator, UUID):
                originator = UUID(originator)
            if version <= after.get(originator, 0):
                continue
            stored = StoredEvent(originator, version, topic, bytes(state))
            found.setdefault(originator, []).append(self.mapper.to_domain_event(stored))
        return found

    def _postgres_rows(self, ids: Collection[UUID], after: dict[UUID, int]) -> list[Row]:
        """No JIT, then the read: one round trip (domain/persistence/round_trip.py)."""
        with self.datastore.get_connection() as conn:
            cursor = conn.cursor(row_factory=tuple_row)
            with one_round_trip(conn):
                conn.execute(NO_JIT)
                cursor.execute(*self.postgres_statement(ids, after))
            rows: list[Row] = cursor.fetchall()
            return rows

    def _sqlite_rows(self, ids: Collection[UUID]) -> list[Row]:
        with self.datastore.transaction(commit=False) as cursor:
            marks = ",".join("?" * len(ids))
            cursor.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {self.table} "  # noqa: S608 - the recorder's table name
                f"WHERE originator_id IN ({marks}) ORDER BY originator_version",
                [i.hex for i in ids],
            )
            return [tuple(row) for row in cursor.fetchall()]
