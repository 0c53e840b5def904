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


def select_stored(db: Database, recorder: ApplicationRecorder) -> tuple[str, str]:
    """`SELECT position, originator_id, originator_version, topic, state FROM` the event table
    (the originator id as text, SQLite's undashed), to be followed by a WHERE on the position;
    and the position's column, to write that WHERE with."""
    # Both recorders (SQLite, PostgreSQL) name their table; their base class declares none.
    table: str = recorder.events_table_name  # type: ignore[attr-defined]  # see above
    key = "notification_id" if db.is_postgres else "rowid"
    originator = "CAST(originator_id AS TEXT)" if db.is_postgres else "originator_id"
    select = f"SELECT {key}, {originator}, originator_version, topic, state FROM {table}"  # noqa: S608 - names from the recorder
    return select, key


class EventReader:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        select, key = select_stored(self.db, recorder)
        self._page = self.db.sql(f"{select} WHERE {key} > ? ORDER BY {key} LIMIT ?")

    def page(self, after: int, limit: int) -> list[LedgerEvent]:
        """Up to `limit` events after log position `after`, in log order."""
        return LedgerEvent.from_rows(self.db.fetch_tuples(self._page, (after, limit)))
