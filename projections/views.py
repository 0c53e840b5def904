"""View tables beside the event store: each row is a published document (JSON bytes, served as is),
and `view_tracking` holds how far each projection has read the log. A batch of documents and its
new position commit in one transaction, and the position moves by compare-and-set, so a view can
never skip or double-apply an event, even if two followers run by mistake."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
from eventsourcing.persistence import ApplicationRecorder

from projections.catalog import Batch, Catalog, ComparisonState, ToolState
from projections.database import Database


class StaleProjection(RuntimeError):
    """Another writer moved the projection's position: reload and go on from there."""


class ViewStore:
    """Documents and positions in the ledger's own database (SQLite file or PostgreSQL)."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        blob = self.db.blob
        self._ddl = [
            "CREATE TABLE IF NOT EXISTS view_tracking ("
            "name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS view_tools (slug TEXT PRIMARY KEY, "
            f"position BIGINT NOT NULL, listed_at TEXT NOT NULL, doc {blob} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS view_comparisons (key TEXT PRIMARY KEY, "
            f"position BIGINT NOT NULL, published_at TEXT NOT NULL, doc {blob} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS view_verdict_history (position BIGINT PRIMARY KEY, "
            f"tool TEXT NOT NULL, seat TEXT NOT NULL, doc {blob} NOT NULL)",
            "CREATE INDEX IF NOT EXISTS view_verdict_history_seat "
            "ON view_verdict_history (tool, seat, position)",
        ]

    # -- schema -----------------------------------------------------------------------------

    def create_tables(self) -> None:
        with self.db.transaction(commit=True) as c:
            for statement in self._ddl:
                c.execute(statement)

    # -- positions --------------------------------------------------------------------------

    def position(self, name: str) -> int:
        rows = self.db.fetch("SELECT position FROM view_tracking WHERE name=?", (name,))
        return int(rows[0]["position"]) if rows else 0

    def wait_for(self, name: str, position: int, timeout: float) -> int:
        """Block until the projection reaches `position` or `timeout` passes; say where it is."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.position(name)
            if current >= position or time.monotonic() >= deadline:
                return current
            time.sleep(0.005)

    def _advance(self, c: Any, name: str, expected: int, new: int) -> None:
        c.execute(
            self.db.sql(
                "UPDATE view_tracking SET position=? WHERE name=? AND position=? RETURNING name"
            ),
            (new, name, expected),
        )
        if c.fetchone() is not None:
            return
        c.execute(self.db.sql("SELECT position FROM view_tracking WHERE name=?"), (name,))
        row = c.fetchone()
        if row is not None or expected != 0:
            found = None if row is None else row["position"]
            raise StaleProjection(f"{name}: expected position {expected}, found {found}")
        c.execute(
            self.db.sql("INSERT INTO view_tracking (name, position) VALUES (?, ?)"), (name, new)
        )

    # -- catalog documents ------------------------------------------------------------------

    def load_catalog(self, name: str) -> Catalog:
        """The catalog as last committed, with its position (read in one transaction)."""
        with self.db.transaction(commit=False) as c:
            c.execute(self.db.sql("SELECT position FROM view_tracking WHERE name=?"), (name,))
            row = c.fetchone()
            c.execute("SELECT doc FROM view_tools")
            tools = [ToolState.from_document(orjson.loads(r["doc"])) for r in c.fetchall()]
            c.execute("SELECT doc FROM view_comparisons")
            comparisons = [
                ComparisonState.from_document(orjson.loads(r["doc"])) for r in c.fetchall()
            ]
        return Catalog(
            tools={t.slug: t for t in tools},
            comparisons={k.key: k for k in comparisons},
            position=int(row["position"]) if row else 0,
        )

    def commit_catalog(
        self,
        name: str,
        expected: int,
        position: int,
        batch: Batch,
        *,
        replace_all: bool = False,
    ) -> None:
        """Write the batch and move the position from `expected` to `position`, atomically."""
        with self.db.transaction(commit=True) as c:
            self._advance(c, name, expected, position)
            if replace_all:
                for table in ("view_tools", "view_comparisons", "view_verdict_history"):
                    c.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
            upsert_tool = self.db.sql(
                "INSERT INTO view_tools (slug, position, listed_at, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (slug) DO UPDATE SET position=excluded.position, doc=excluded.doc"
            )
            for t in batch.tools:
                c.execute(
                    upsert_tool, (t.slug, t.position, t.listed_at, orjson.dumps(t.document()))
                )
            upsert_comparison = self.db.sql(
                "INSERT INTO view_comparisons (key, position, published_at, doc) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "position=excluded.position, published_at=excluded.published_at, doc=excluded.doc"
            )
            for k in batch.comparisons:
                c.execute(
                    upsert_comparison,
                    (k.key, k.position, k.published_at, orjson.dumps(k.document())),
                )
            insert_history = self.db.sql(
                "INSERT INTO view_verdict_history (position, tool, seat, doc) VALUES (?, ?, ?, ?)"
            )
            for h in batch.history:
                c.execute(insert_history, (h["position"], h["tool"], h["seat"], orjson.dumps(h)))

    # -- queries ----------------------------------------------------------------------------

    def tool_documents(
        self, name: str, slugs: Sequence[str] | None = None
    ) -> tuple[int, list[bytes]]:
        """Documents of the given tools (all, newest first, when None) and the position they
        reflect, read in ONE statement so every document comes from the same committed batch."""
        on = "TRUE" if slugs is None else f"t.slug IN ({', '.join('?' * len(slugs))})"
        return self._documents_at(
            name, f"view_tools t ON {on} ORDER BY t.listed_at DESC, t.slug", slugs or ()
        )

    def verdict_history(self, name: str, tool: str, seat: str) -> tuple[int, list[bytes]]:
        """Every version of one seat's verdict, oldest first."""
        return self._documents_at(
            name,
            "view_verdict_history t ON t.tool = ? AND t.seat = ? ORDER BY t.position",
            (tool, seat),
        )

    def comparison_documents(self, name: str) -> tuple[int, list[bytes]]:
        """Every comparison (withdrawn ones too, marked so), newest first, with the position."""
        return self._documents_at(
            name, "view_comparisons t ON TRUE ORDER BY t.published_at DESC, t.key", ()
        )

    def _documents_at(self, name: str, join: str, params: Sequence[Any]) -> tuple[int, list[bytes]]:
        """`join` is one of this class's literal clauses; values always travel as parameters."""
        statement = (
            "SELECT k.position AS at, t.doc AS doc FROM (SELECT CAST(? AS TEXT) AS name) AS q "  # noqa: S608 - `join` is a literal of this class
            "LEFT JOIN view_tracking k ON k.name = q.name LEFT JOIN " + join
        )
        rows = self.db.fetch(statement, (name, *params))
        at = int(rows[0]["at"] or 0)
        return at, [bytes(r["doc"]) for r in rows if r["doc"] is not None]
