"""The transparency log: every stored event, in log order, is a leaf of an RFC 9162 Merkle tree.

Kept like any other projection (followed, tracked, rebuilt), in three tables:
`audit_leaf_chunks` packs the leaves CHUNK to a row (each leaf's log position and leaf hash),
`audit_nodes` holds every complete ("perfect") subtree hash at the chunk level and above, so any
root or proof for any size costs O(log n) reads plus rehashing at most two chunks
(merkle.ChunkedNodes), and `audit_checkpoints` keeps every signed checkpoint. A row per chunk
rather than per leaf and per node is what makes appending cheap (a rebuild writes ~1/CHUNK rows
per event instead of ~3). Checkpoints are history, not derived state: a rebuild recomputes
leaves and nodes and then checks each stored checkpoint against them."""

from __future__ import annotations

import struct
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from projections.audit import merkle
from projections.audit.signed_note import NoteSigner, format_checkpoint, time_extension
from projections.database import Database
from projections.following.tracking import Tracking
from projections.records import LedgerEvent

AUDIT = "audit"
CHUNK_LEVEL = 6
CHUNK = 1 << CHUNK_LEVEL
"""Leaves per `audit_leaf_chunks` row. A proof rehashes at most CHUNK - 1 nodes per chunk it
touches, and a live commit rewrites the partial last chunk: small enough for both to be cheap,
large enough that rows are rare."""
LEGACY_TABLES = ("audit_leaves",)
"""Tables of the one-row-per-leaf layout: found at start, they are dropped with the nodes and the
log is rebuilt from the events (checkpoints are kept, and checked against it)."""
CHECKPOINT_EVERY_SECONDS = 1.0
"""Under a steady stream of events, sign at least this often (and always when caught up)."""


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    at: str
    note: str


@dataclass(frozen=True, slots=True)
class Leaf:
    index: int
    position: int
    hash: bytes


def pack_positions(positions: Sequence[int]) -> bytes:
    """A chunk's log positions, 8 bytes each (little-endian), in leaf order."""
    return struct.pack(f"<{len(positions)}q", *positions)


def unpack_positions(packed: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(packed) // 8}q", packed)


def unpack_hashes(packed: bytes) -> list[bytes]:
    """A chunk's leaf hashes, concatenated, back into a list."""
    size = merkle.HASH_SIZE
    return [packed[i : i + size] for i in range(0, len(packed), size)]


class AuditStore:
    """The log's tables in the ledger's own database, and the queries proofs need."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        self.tracking = Tracking(self.db)
        blob = self.db.blob
        self._ddl = [
            f"CREATE TABLE IF NOT EXISTS audit_leaf_chunks (chunk BIGINT PRIMARY KEY, "
            f"first_position BIGINT NOT NULL UNIQUE, positions {blob} NOT NULL, "
            f"hashes {blob} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS audit_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, "
            f"hash {blob} NOT NULL, PRIMARY KEY (level, idx))",
            f"CREATE TABLE IF NOT EXISTS audit_checkpoints (size BIGINT PRIMARY KEY, "
            f"root {blob} NOT NULL, at TEXT NOT NULL, note TEXT NOT NULL)",
        ]

        self.reader = merkle.ChunkedNodes(CHUNK_LEVEL, self._upper_nodes, self._chunk_hashes)

    def create_tables(self) -> None:
        self.tracking.create_table()
        legacy = [table for table in LEGACY_TABLES if self.db.has_table(table)]
        with self.db.transaction(commit=True) as c:
            if legacy:
                for table in legacy:
                    c.execute(f"DROP TABLE {table}")
                c.execute("DROP TABLE IF EXISTS audit_nodes")
                self.tracking.restart(c, AUDIT)
            for statement in self._ddl:
                c.execute(statement)

    # -- the tree ---------------------------------------------------------------------------

    def size(self) -> int:
        return self.tracking.tracked(AUDIT)[1]

    def nodes(self, keys: Collection[merkle.Key]) -> Mapping[merkle.Key, bytes]:
        """merkle.NodeReader: the requested perfect nodes (those below the chunk level are
        rehashed from their chunk's leaves)."""
        return self.reader.nodes(keys)

    def _upper_nodes(self, keys: Collection[merkle.Key]) -> Mapping[merkle.Key, bytes]:
        """The stored perfect nodes (chunk level and above) in one statement."""
        keys = list(keys)
        where = " OR ".join(["(level = ? AND idx = ?)"] * len(keys))
        params = [v for key in keys for v in key]
        rows = self.db.fetch(f"SELECT level, idx, hash FROM audit_nodes WHERE {where}", params)  # noqa: S608 - placeholders only
        return {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in rows}

    def _chunk_hashes(self, chunks: Collection[int]) -> Mapping[int, Sequence[bytes]]:
        chunks = list(chunks)
        marks = ", ".join("?" * len(chunks))
        rows = self.db.fetch(
            f"SELECT chunk, hashes FROM audit_leaf_chunks WHERE chunk IN ({marks})",  # noqa: S608 - placeholders only
            chunks,
        )
        return {int(r["chunk"]): unpack_hashes(bytes(r["hashes"])) for r in rows}

    def root(self, size: int) -> bytes:
        return merkle.root(size, self)

    def leaves(self, after: int, limit: int) -> list[Leaf]:
        """Leaves `after` .. `after + limit - 1` (after = a tree size), with their hashes."""
        if limit <= 0:
            return []
        rows = self.db.fetch(
            "SELECT chunk, positions, hashes FROM audit_leaf_chunks "
            "WHERE chunk >= ? AND chunk <= ? ORDER BY chunk",
            (after // CHUNK, (after + limit - 1) // CHUNK),
        )
        found = [leaf for r in rows for leaf in _chunk_leaves(r)]
        return [leaf for leaf in found if after <= leaf.index < after + limit]

    def leaf_at_position(self, position: int) -> Leaf | None:
        rows = self.db.fetch(
            "SELECT chunk, positions, hashes FROM audit_leaf_chunks WHERE first_position <= ? "
            "ORDER BY first_position DESC LIMIT 1",
            (position,),
        )
        found = [leaf for r in rows for leaf in _chunk_leaves(r) if leaf.position == position]
        return found[0] if found else None

    # -- checkpoints ------------------------------------------------------------------------

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        found = self._checkpoints("ORDER BY size DESC LIMIT 1", ())
        return found[0] if found else None

    def checkpoint_covering(self, size: int) -> StoredCheckpoint | None:
        """The first checkpoint whose tree includes the first `size` events."""
        found = self._checkpoints("WHERE size >= ? ORDER BY size LIMIT 1", (size,))
        return found[0] if found else None

    def recent_checkpoints(self, limit: int) -> list[StoredCheckpoint]:
        """The latest `limit` checkpoints, newest first."""
        return self._checkpoints("ORDER BY size DESC LIMIT ?", (limit,))

    def checkpoints(self, after: int = 0, limit: int = 1000) -> list[StoredCheckpoint]:
        """Checkpoints of size > `after`, oldest first."""
        return self._checkpoints("WHERE size > ? ORDER BY size LIMIT ?", (after, limit))

    def _checkpoints(self, clause: str, params: tuple[Any, ...]) -> list[StoredCheckpoint]:
        rows = self.db.fetch(f"SELECT size, root, at, note FROM audit_checkpoints {clause}", params)  # noqa: S608 - `clause` is a literal of this class
        return [
            StoredCheckpoint(int(r["size"]), bytes(r["root"]), r["at"], r["note"]) for r in rows
        ]

    def mismatched_checkpoints(self) -> list[StoredCheckpoint]:
        """Stored checkpoints whose root the current tree does not reproduce (after a rebuild,
        this is tampering, or a different log in the same database)."""
        size = self.size()
        bad: list[StoredCheckpoint] = []
        after = 0
        while page := self.checkpoints(after, 1000):
            bad += [cp for cp in page if cp.size > size or self.root(cp.size) != cp.root]
            after = page[-1].size
        return bad

    # -- writing ----------------------------------------------------------------------------

    def commit(
        self,
        expected: int,
        position: int,
        first: int,
        positions: Sequence[int],
        hashes: Sequence[bytes],
        nodes: list[tuple[int, int, bytes]],
        checkpoint: StoredCheckpoint | None,
    ) -> None:
        """New leaves (log positions and leaf hashes of leaf indexes `first` onwards), nodes
        and (maybe) a checkpoint, with the new position, in one transaction. The leaves extend
        the last, partial chunk (its row is rewritten whole) and fill new ones."""
        size = first + len(positions)
        with self.db.transaction(commit=True) as c:
            self.tracking.advance(c, AUDIT, expected, position, size)
            rows: list[tuple[int, int, bytes, bytes]] = []
            start = 0
            if first % CHUNK and positions:
                c.execute(
                    self.db.sql(
                        "SELECT first_position, positions, hashes FROM audit_leaf_chunks "
                        "WHERE chunk = ?"
                    ),
                    (first // CHUNK,),
                )
                tail = c.fetchone()
                start = min(len(positions), CHUNK - first % CHUNK)
                rows.append(
                    (
                        first // CHUNK,
                        int(tail["first_position"]),
                        bytes(tail["positions"]) + pack_positions(positions[:start]),
                        bytes(tail["hashes"]) + b"".join(hashes[:start]),
                    )
                )
            for i in range(start, len(positions), CHUNK):
                rows.append(
                    (
                        (first + i) // CHUNK,
                        positions[i],
                        pack_positions(positions[i : i + CHUNK]),
                        b"".join(hashes[i : i + CHUNK]),
                    )
                )
            c.executemany(
                self.db.sql(
                    "INSERT INTO audit_leaf_chunks (chunk, first_position, positions, hashes) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (chunk) DO UPDATE SET "
                    "positions=excluded.positions, hashes=excluded.hashes"
                ),
                rows,
            )
            c.executemany(
                self.db.sql("INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)"), nodes
            )
            if checkpoint is not None:
                self._insert_checkpoint(c, checkpoint)

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self.db.transaction(commit=True) as c:
            self._insert_checkpoint(c, checkpoint)

    def _insert_checkpoint(self, c: Any, checkpoint: StoredCheckpoint) -> None:
        """Two workers may sign the same size: the first signature stands."""
        c.execute(
            self.db.sql(
                "INSERT INTO audit_checkpoints (size, root, at, note) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (size) DO NOTHING"
            ),
            (checkpoint.size, checkpoint.root, checkpoint.at, checkpoint.note),
        )

    def reset(self) -> None:
        """Forget leaves and nodes (never checkpoints) and start again from the first event."""
        with self.db.transaction(commit=True) as c:
            c.execute("DELETE FROM audit_leaf_chunks")
            c.execute("DELETE FROM audit_nodes")
            self.tracking.restart(c, AUDIT)


def _chunk_leaves(row: Any) -> list[Leaf]:
    first = int(row["chunk"]) * CHUNK
    positions = unpack_positions(bytes(row["positions"]))
    hashes = unpack_hashes(bytes(row["hashes"]))
    return [Leaf(first + i, p, h) for i, (p, h) in enumerate(zip(positions, hashes, strict=True))]


class AuditProjection:
    """Appends each event's leaf hash to the tree; signs a checkpoint of the committed tree when
    it has caught up, and at least every CHECKPOINT_EVERY_SECONDS under a steady stream; never
    twice for one size."""

    name = AUDIT

    def __init__(self, store: AuditStore, signer: NoteSigner, origin: str) -> None:
        self.store = store
        self.signer = signer
        self.origin = origin
        self.reload()

    @property
    def position(self) -> int:
        return self._position

    def reload(self) -> None:
        position, size = self.store.tracking.tracked(AUDIT)
        self._position = position
        self.tree = merkle.CompactRange.resume(size, self.store)
        latest = self.store.latest_checkpoint()
        self._signed_size = latest.size if latest else 0
        self._signed_at = time.monotonic()
        self._positions: list[int] = []
        self._hashes: list[bytes] = []

    def apply_all(self, events: Sequence[LedgerEvent]) -> None:
        if events:
            self._hashes += merkle.leaf_hashes(map(LedgerEvent.canonical, events))
            self._positions += [event.position for event in events]
            self._position = events[-1].position

    def commit(self, expected: int) -> None:
        first = self.tree.size
        nodes = self.tree.extend(self._hashes, keep_from=CHUNK_LEVEL)
        checkpoint = None
        if time.monotonic() - self._signed_at >= CHECKPOINT_EVERY_SECONDS:
            checkpoint = self._due_checkpoint()
        self.store.commit(
            expected, self._position, first, self._positions, self._hashes, nodes, checkpoint
        )
        self._positions, self._hashes = [], []
        self._signed(checkpoint)

    def caught_up(self) -> None:
        checkpoint = self._due_checkpoint()
        if checkpoint is not None:
            self.store.add_checkpoint(checkpoint)
            self._signed(checkpoint)

    def _due_checkpoint(self) -> StoredCheckpoint | None:
        """A checkpoint of the committed tree, unless its size is signed already."""
        if self.tree.size <= self._signed_size:
            return None
        return self.sign(self.tree.size, self.tree.root())

    def _signed(self, checkpoint: StoredCheckpoint | None) -> None:
        if checkpoint is not None:
            self._signed_size, self._signed_at = checkpoint.size, time.monotonic()

    def sign(self, size: int, root: bytes) -> StoredCheckpoint:
        now = datetime.now(UTC)
        text = format_checkpoint(self.origin, size, root, [time_extension(now)])
        return StoredCheckpoint(size, root, now.isoformat(), self.signer.sign(text))

    def reset(self) -> None:
        self.store.reset()
        self.reload()
