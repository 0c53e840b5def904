"""The transparency log: every stored event, in log order, is a leaf of an RFC 9162 Merkle tree.

Kept like any other projection (followed, tracked, rebuilt), in three tables: `audit_leaves`
maps each leaf index to the event's log position and time, `audit_nodes` holds every complete
("perfect") subtree hash, so any root or proof for any size costs O(log n) reads, and
`audit_checkpoints` keeps every signed checkpoint. Checkpoints are history, not derived state: a
rebuild recomputes leaves and nodes and then checks each stored checkpoint against them."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from projections import merkle
from projections.database import Database
from projections.records import LedgerEvent
from projections.signed_note import NoteSigner, format_checkpoint, time_extension
from projections.tracking import Tracking
from projections.views import sortable

AUDIT = "audit"
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
    at: str
    hash: bytes


class AuditStore:
    """The log's tables in the ledger's own database, and the queries proofs need."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        self.tracking = Tracking(self.db)
        blob = self.db.blob
        self._ddl = [
            "CREATE TABLE IF NOT EXISTS audit_leaves (leaf_index BIGINT PRIMARY KEY, "
            "position BIGINT NOT NULL UNIQUE, at TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS audit_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, "
            f"hash {blob} NOT NULL, PRIMARY KEY (level, idx))",
            f"CREATE TABLE IF NOT EXISTS audit_checkpoints (size BIGINT PRIMARY KEY, "
            f"root {blob} NOT NULL, at TEXT NOT NULL, note TEXT NOT NULL)",
        ]

    def create_tables(self) -> None:
        self.tracking.create_table()
        with self.db.transaction(commit=True) as c:
            for statement in self._ddl:
                c.execute(statement)

    # -- the tree ---------------------------------------------------------------------------

    def size(self) -> int:
        return self.tracking.tracked(AUDIT)[1]

    def nodes(self, keys: Collection[merkle.Key]) -> Mapping[merkle.Key, bytes]:
        """merkle.NodeReader: the requested perfect nodes in one statement."""
        if not keys:
            return {}
        keys = list(keys)
        where = " OR ".join(["(level = ? AND idx = ?)"] * len(keys))
        params = [v for key in keys for v in key]
        rows = self.db.fetch(f"SELECT level, idx, hash FROM audit_nodes WHERE {where}", params)  # noqa: S608 - placeholders only
        return {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in rows}

    def root(self, size: int) -> bytes:
        return merkle.root(size, self)

    def leaves(self, after: int, limit: int) -> list[Leaf]:
        """Leaves `after` .. `after + limit - 1` (after = a tree size), with their hashes."""
        return self._leaves("l.leaf_index >= ? ORDER BY l.leaf_index LIMIT ?", (after, limit))

    def leaf_at_position(self, position: int) -> Leaf | None:
        found = self._leaves("l.position = ?", (position,))
        return found[0] if found else None

    def _leaves(self, where: str, params: tuple[Any, ...]) -> list[Leaf]:
        rows = self.db.fetch(
            "SELECT l.leaf_index AS i, l.position AS position, l.at AS at, n.hash AS hash "  # noqa: S608 - `where` is a literal of this class
            "FROM audit_leaves l JOIN audit_nodes n ON n.level = 0 AND n.idx = l.leaf_index "
            f"WHERE {where}",
            params,
        )
        return [Leaf(int(r["i"]), int(r["position"]), r["at"], bytes(r["hash"])) for r in rows]

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
        size: int,
        leaves: list[tuple[int, int, str]],
        nodes: list[tuple[int, int, bytes]],
        checkpoint: StoredCheckpoint | None,
    ) -> None:
        """New leaves, nodes and (maybe) a checkpoint, with the new position, in one transaction."""
        with self.db.transaction(commit=True) as c:
            self.tracking.advance(c, AUDIT, expected, position, size)
            c.executemany(
                self.db.sql("INSERT INTO audit_leaves (leaf_index, position, at) VALUES (?, ?, ?)"),
                leaves,
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
            c.execute("DELETE FROM audit_leaves")
            c.execute("DELETE FROM audit_nodes")
            self.tracking.restart(c, AUDIT)


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
        self._leaves: list[tuple[int, int, str]] = []
        self._nodes: list[tuple[int, int, bytes]] = []

    def apply(self, event: LedgerEvent) -> None:
        index = self.tree.size
        self._nodes += self.tree.append(merkle.leaf_hash(event.canonical()))
        self._leaves.append((index, event.position, sortable(event.timestamp)))
        self._position = event.position

    def commit(self, expected: int) -> None:
        checkpoint = None
        if time.monotonic() - self._signed_at >= CHECKPOINT_EVERY_SECONDS:
            checkpoint = self._due_checkpoint()
        self.store.commit(
            expected, self._position, self.tree.size, self._leaves, self._nodes, checkpoint
        )
        self._leaves, self._nodes = [], []
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
