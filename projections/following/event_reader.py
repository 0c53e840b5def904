"""Stored events read straight from eventsourcing's own table, as the folds need them.

The same rows, in the same order, that `ApplicationRecorder.select_notifications` returns, but
decoded once into `LedgerEvent`s without building `Notification` and `UUID` objects first: about
twice as fast on a replay, where reading is most of the cost. The event table's layout is
eventsourcing's (9.5): SQLite numbers notifications by `rowid`, PostgreSQL by
`notification_id`; tests/projections/following/test_event_reader.py holds the two paths equal."""

from __future__ import annotations

from eventsourcing.persistence import ApplicationRecorder

from projections.database import Database
from projections.records import LedgerEvent


class EventReader:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        # Both recorders (SQLite, PostgreSQL) name their table; their base class declares none.
        table: str = recorder.events_table_name  # type: ignore[attr-defined]  # see above
        key = "notification_id" if self.db.is_postgres else "rowid"
        originator = "CAST(originator_id AS TEXT)" if self.db.is_postgres else "originator_id"
        self._page = self.db.sql(
            f"SELECT {key} AS id, {originator} AS originator_id, originator_version, topic, state "  # noqa: S608 - names from the recorder
            f"FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?"
        )

    def page(self, after: int, limit: int) -> list[LedgerEvent]:
        """Up to `limit` events after log position `after`, in log order."""
        return LedgerEvent.from_rows(self.db.fetch_tuples(self._page, (after, limit)))
