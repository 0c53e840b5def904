"""The change ring of a catalog generation: which tool documents each of its last CHANGE_SLOTS
commits wrote, so that a process polling the catalog (poller.py) reads only those documents.

It replaced an index on `view_tools.position`: every commit moves the position of each tool it
touches, so that index moved with every ballot. On PostgreSQL an UPDATE that changes an indexed
column is never HOT: each ballot-only update inserted entries into all ~10 indexes of
view_tools, and without autovacuum (off on our server) heap and indexes grew without bound (6
tools, 3,485 updates: 2.2 MB, no HOT update). On SQLite the index was ~22 of the ~255 pages a
64-vote commit wrote at 5,000 tools. A ring row is rewritten in place under its unchanged key
(`slot`) and no other index, so it is HOT too; view_tools then changes an indexed column only
when a score or an editorial field moved."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

CHANGES = "view_tool_changes"
CHANGE_SLOTS = 256
"""Commits the ring remembers: a poller more than this many document-writing commits behind
(20 ms polls, commits every ~50 ms) reads every document instead."""


def changes_ddl(table: str, blob: str, fill: str) -> str:
    """`fill`: the table's storage clause (PostgreSQL's fillfactor, nothing on SQLite)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (slot INTEGER PRIMARY KEY, seq BIGINT NOT NULL, "
        f"position BIGINT NOT NULL, slugs {blob} NOT NULL){fill}"
    )


def last_seq(c: Any, table: str) -> int:
    """The seq of the newest row (0 for an empty ring): read once by a writer that does not
    know it yet, in its commit's transaction."""
    c.execute(f"SELECT MAX(seq) AS seq FROM {table}")  # noqa: S608 - our names
    row = c.fetchone()
    return int(row["seq"] or 0)


def record_sql(table: str) -> str:
    """The upsert of one commit's row (`?` placeholders, Database.sql)."""
    return (
        f"INSERT INTO {table} (slot, seq, position, slugs) VALUES (?, ?, ?, ?) "  # noqa: S608 - our names
        "ON CONFLICT (slot) DO UPDATE SET seq=excluded.seq, position=excluded.position, "
        "slugs=excluded.slugs"
    )


def record_values(seq: int, position: int, slugs: Iterable[str]) -> tuple[int, int, int, bytes]:
    return seq % CHANGE_SLOTS, seq, position, orjson.dumps(sorted(slugs))


def ring_sql(table: str) -> str:
    """The rows past a position, then one row (slugs NULL) with the newest seq at or below it
    (NULL if none): what `changed_slugs` proves its answer from, in one read of the ring."""
    return (
        f"SELECT seq, slugs FROM {table} WHERE position > ? "  # noqa: S608 - our names
        f"UNION ALL SELECT MAX(seq), NULL FROM {table} WHERE position <= ?"
    )


def changed_slugs(rows: Sequence[Any]) -> set[str] | None:
    """The slugs the commits past the position wrote, from `ring_sql`'s rows; None when the ring
    cannot prove it holds every one of those commits, and every document must be read.

    Proof: seqs are consecutive per generation and positions grow with them, so if a row at or
    below the position survives (seq `below`) and the rows past it are exactly `below + 1` on,
    none is missing. Without a row at or below it, the ring cannot tell overwritten rows from
    commits made before the ring existed (a generation that gained it at start, whose first row
    has seq 1), nor from a generation reset: all are read whole, as a fresh one's first
    refresh is (it costs as many documents as that generation has)."""
    below: int | None = None
    seqs: list[int] = []
    slugs: set[str] = set()
    for r in rows:
        if r["slugs"] is None:
            below = None if r["seq"] is None else int(r["seq"])
        else:
            seqs.append(int(r["seq"]))
            slugs.update(orjson.loads(bytes(r["slugs"])))
    if below is None or sorted(seqs) != list(range(below + 1, below + 1 + len(seqs))):
        return None
    return slugs
