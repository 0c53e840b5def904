"""How far each projection has read the log: one row per projection in `view_tracking`.

A projection commits its documents and its new (position, size) in one transaction, and the
position moves by compare-and-set, so a view can never skip or double-apply an event, even if two
followers run by mistake: the slower one gets StaleProjection, reloads and goes on."""

from __future__ import annotations

import time
from typing import Any

from projections.database import Database


class StaleProjection(RuntimeError):
    """Another writer moved the projection's position: reload and go on from there."""


class Tracking:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create_table(self) -> None:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS view_tracking ("
            "name TEXT PRIMARY KEY, position BIGINT NOT NULL, size BIGINT NOT NULL)"
        )

    def tracked(self, name: str) -> tuple[int, int]:
        """(position, size): the last event a projection committed, and how many it has read."""
        rows = self.db.fetch("SELECT position, size FROM view_tracking WHERE name=?", (name,))
        return (int(rows[0]["position"]), int(rows[0]["size"])) if rows else (0, 0)

    def wait_for(self, name: str, position: int, timeout: float) -> int:
        """Block until the projection reaches `position` or `timeout` passes; say where it is."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.tracked(name)[0]
            if current >= position or time.monotonic() >= deadline:
                return current
            time.sleep(0.005)

    def advance(self, c: Any, name: str, expected: int, new: int, size: int) -> None:
        """Move a projection from `expected` to `new` inside the caller's transaction, or raise
        StaleProjection if another writer moved it first."""
        c.execute(
            self.db.sql(
                "UPDATE view_tracking SET position=?, size=? WHERE name=? AND position=? "
                "RETURNING name"
            ),
            (new, size, name, expected),
        )
        if c.fetchone() is not None:
            return
        c.execute(self.db.sql("SELECT position FROM view_tracking WHERE name=?"), (name,))
        row = c.fetchone()
        if row is not None or expected != 0:
            found = None if row is None else row["position"]
            raise StaleProjection(f"{name}: expected position {expected}, found {found}")
        c.execute(
            self.db.sql("INSERT INTO view_tracking (name, position, size) VALUES (?, ?, ?)"),
            (name, new, size),
        )

    def restart(self, c: Any, name: str) -> None:
        """Put a projection back at the start of the log (inside the caller's transaction)."""
        c.execute(self.db.sql("DELETE FROM view_tracking WHERE name=?"), (name,))
