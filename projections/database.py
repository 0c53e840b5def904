"""Plain SQL on the ledger's own database, for the tables that are not events (views, keys).
Uses eventsourcing's connection pool, so one process holds one pool per store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import ApplicationRecorder


class Database:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.datastore: Any = recorder.datastore  # type: ignore[attr-defined]
        self.is_postgres = type(recorder).__module__ == "eventsourcing.postgres"
        self.blob = "BYTEA" if self.is_postgres else "BLOB"

    def sql(self, statement: str) -> str:
        """Statements are written with `?` placeholders; PostgreSQL wants `%s`."""
        return statement.replace("?", "%s") if self.is_postgres else statement

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield cursor

    def fetch(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.transaction(commit=False) as c:
            c.execute(self.sql(statement), params)
            return list(c.fetchall())

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        with self.transaction(commit=True) as c:
            c.execute(self.sql(statement), params)
