"""The witness's own state: one small SQLite file with its key and, per log origin, the tree
head it last cosigned.

The spec's race (two add-checkpoints for sizes N and N+K, checked together, written in either
order) is closed by `advance`: a compare-and-set inside BEGIN IMMEDIATE that writes only if the
stored head is still the one the request was checked against. Commits are durable
(WAL with synchronous=FULL fsyncs each commit) before the witness answers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from projections.audit.merkle import EMPTY_ROOT

_SCHEMA = """
CREATE TABLE IF NOT EXISTS witness_key (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    private_key BLOB NOT NULL  -- raw 32-byte Ed25519 private key
);
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32)
);
"""


@dataclass(frozen=True, slots=True)
class TreeHead:
    size: int
    root: bytes


NEVER_COSIGNED = TreeHead(0, EMPTY_ROOT)
"""The head of an origin the witness has not cosigned yet: the empty tree."""


class StaleHead(Exception):
    """The stored head moved since the request was checked; `current` is what it is now."""

    def __init__(self, current: TreeHead) -> None:
        super().__init__(f"the witness has since cosigned size {current.size}")
        self.current = current


class WitnessState:
    """The state file; one short-lived connection per call, so any thread may call."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: no implicit transactions; each one below is spelt out.
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA synchronous = FULL")
            yield db

    def private_key(self) -> bytes:
        """The witness's raw Ed25519 private key, created on the first call ever."""
        fresh = Ed25519PrivateKey.generate().private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()
        )
        with self._connect() as db:
            # Two processes starting on one file at once agree: the first insert wins.
            db.execute(
                "INSERT OR IGNORE INTO witness_key (only, private_key) VALUES (1, ?)", (fresh,)
            )
            (raw,) = db.execute("SELECT private_key FROM witness_key").fetchone()
        return bytes(raw)

    def latest(self, origin: str) -> TreeHead:
        """The head last cosigned for `origin` (NEVER_COSIGNED if none)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT size, root FROM cosigned WHERE origin = ?", (origin,)
            ).fetchone()
        return NEVER_COSIGNED if row is None else TreeHead(row[0], bytes(row[1]))

    def advance(self, origin: str, checked: TreeHead, new: TreeHead) -> None:
        """Store `new` for `origin` if the stored head is still `checked` (the one the request
        was checked against), in one transaction, durably; StaleHead if it is not."""
        if new.size < checked.size:
            raise ValueError(f"a witness never goes back from size {checked.size} to {new.size}")
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock, before the read it depends on
            try:
                row = db.execute(
                    "SELECT size, root FROM cosigned WHERE origin = ?", (origin,)
                ).fetchone()
                current = NEVER_COSIGNED if row is None else TreeHead(row[0], bytes(row[1]))
                if current != checked:
                    raise StaleHead(current)
                db.execute(
                    "INSERT INTO cosigned (origin, size, root) VALUES (?, ?, ?) "
                    "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root",
                    (origin, new.size, new.root),
                )
                db.execute("COMMIT")
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")
