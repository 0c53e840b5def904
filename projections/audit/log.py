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

import copy
import struct
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from projections.audit import merkle
from projections.audit.signed_note import NoteSigner, format_checkpoint, time_extension
from projections.database import Database
from projections.following.generations import GenerationTable, Layout, RefusedGeneration, Slot
from projections.following.tracking import Tracking
from projections.records import LedgerEvent

AUDIT = "audit"
AUDIT_VERSION = 1
"""The version of the leaf and tree computation. Raise it with any change to what the log
derives from the same events: a service that starts with a new version rebuilds the tree beside
the serving tables, checks every stored checkpoint against it, and switches once caught up."""
AUDIT_TABLES = ("audit_leaf_chunks", "audit_nodes")
"""The derived tables, one set per generation (projections/following/generations.py); the
checkpoints (and their cosignatures) are history and have one table for ever."""
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


def audit_ddl(named: Callable[[str], str], blob: str) -> list[str]:
    """One generation's derived tables, `named` giving each its numbered name."""
    return [
        f"CREATE TABLE IF NOT EXISTS {named('audit_leaf_chunks')} (chunk BIGINT PRIMARY KEY, "
        f"first_position BIGINT NOT NULL UNIQUE, positions {blob} NOT NULL, "
        f"hashes {blob} NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {named('audit_nodes')} (level INTEGER NOT NULL, "
        f"idx BIGINT NOT NULL, hash {blob} NOT NULL, PRIMARY KEY (level, idx))",
    ]


class AuditStore:
    """The log's tables in the ledger's own database, and the queries proofs need: those of the
    serving generation (through the unnumbered SQL views), or of one `Slot` (`at`)."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        self.tracking = Tracking(self.db)
        self.generations = GenerationTable(self.db)
        blob = self.db.blob
        self.layout = Layout(
            AUDIT, AUDIT_VERSION, AUDIT_TABLES, lambda named: audit_ddl(named, blob)
        )
        self._checkpoints_ddl = (
            f"CREATE TABLE IF NOT EXISTS audit_checkpoints (size BIGINT PRIMARY KEY, "
            f"root {blob} NOT NULL, at TEXT NOT NULL, note TEXT NOT NULL)"
        )
        self.slot: Slot | None = None
        self.reader = merkle.ChunkedNodes(CHUNK_LEVEL, self._upper_nodes, self._chunk_hashes)

    def at(self, slot: Slot) -> AuditStore:
        """The same store, reading and writing generation `slot`'s tables."""
        other = copy.copy(self)
        other.slot = slot
        other.reader = merkle.ChunkedNodes(CHUNK_LEVEL, other._upper_nodes, other._chunk_hashes)
        return other

    def _table(self, base: str) -> str:
        return base if self.slot is None else self.slot.table(base)

    @property
    def _tracking_name(self) -> str:
        return AUDIT if self.slot is None else self.slot.tracking

    def create_tables(self) -> None:
        self.tracking.create_table()
        legacy = [table for table in LEGACY_TABLES if self.db.has_table(table)]
        self.generations.install(self.layout)
        with self.db.transaction(commit=True) as c:
            c.execute(self._checkpoints_ddl)
            if legacy:
                serving = self.generations.serving(AUDIT)
                for table in legacy:
                    c.execute(f"DROP TABLE {table}")
                for table in AUDIT_TABLES:
                    c.execute(f"DELETE FROM {serving.table(table)}")  # noqa: S608 - our names
                self.tracking.restart(c, AUDIT)

    # -- the tree ---------------------------------------------------------------------------

    def size(self) -> int:
        return self.tracking.tracked(self._tracking_name)[1]

    def nodes(self, keys: Collection[merkle.Key]) -> Mapping[merkle.Key, bytes]:
        """merkle.NodeReader: the requested perfect nodes (those below the chunk level are
        rehashed from their chunk's leaves)."""
        return self.reader.nodes(keys)

    def _upper_nodes(self, keys: Collection[merkle.Key]) -> Mapping[merkle.Key, bytes]:
        """The stored perfect nodes (chunk level and above) in one statement."""
        keys = list(keys)
        where = " OR ".join(["(level = ? AND idx = ?)"] * len(keys))
        params = [v for key in keys for v in key]
        nodes = self._table("audit_nodes")
        rows = self.db.fetch(f"SELECT level, idx, hash FROM {nodes} WHERE {where}", params)  # noqa: S608 - placeholders only
        return {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in rows}

    def _chunk_hashes(self, chunks: Collection[int]) -> Mapping[int, Sequence[bytes]]:
        chunks = list(chunks)
        marks = ", ".join("?" * len(chunks))
        rows = self.db.fetch(
            f"SELECT chunk, hashes FROM {self._table('audit_leaf_chunks')} "  # noqa: S608 - placeholders only
            f"WHERE chunk IN ({marks})",
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
            f"SELECT chunk, positions, hashes FROM {self._table('audit_leaf_chunks')} "  # noqa: S608 - our names
            "WHERE chunk >= ? AND chunk <= ? ORDER BY chunk",
            (after // CHUNK, (after + limit - 1) // CHUNK),
        )
        found = [leaf for r in rows for leaf in _chunk_leaves(r)]
        return [leaf for leaf in found if after <= leaf.index < after + limit]

    def leaves_at(self, indexes: Collection[int]) -> list[Leaf]:
        """The leaves of these indexes, wherever they lie, in index order: one statement for
        the chunks that hold them (a score proof's leaves are scattered over the log)."""
        chunks = sorted({i // CHUNK for i in indexes})
        if not chunks:
            return []
        marks = ", ".join("?" * len(chunks))
        rows = self.db.fetch(
            f"SELECT chunk, positions, hashes FROM {self._table('audit_leaf_chunks')} "  # noqa: S608 - placeholders only
            f"WHERE chunk IN ({marks})",
            chunks,
        )
        wanted = set(indexes)
        found = [leaf for r in rows for leaf in _chunk_leaves(r) if leaf.index in wanted]
        return sorted(found, key=lambda leaf: leaf.index)

    def leaf_at_position(self, position: int) -> Leaf | None:
        rows = self.db.fetch(
            f"SELECT chunk, positions, hashes FROM {self._table('audit_leaf_chunks')} "  # noqa: S608 - our names
            "WHERE first_position <= ? ORDER BY first_position DESC LIMIT 1",
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

    def mismatched_checkpoints(self, after: int = 0) -> list[StoredCheckpoint]:
        """Stored checkpoints of size > `after` whose root the tree does not reproduce, or
        that it does not reach (after a rebuild, this is tampering, or a different log in the
        same database)."""
        size = self.size()
        bad: list[StoredCheckpoint] = []
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
        assert self.slot is not None, "commit to a generation: AuditStore.at(slot)"
        chunks, nodes_table = self.slot.table("audit_leaf_chunks"), self.slot.table("audit_nodes")
        with self.db.transaction(commit=True) as c:
            self.generations.advance(c, self.tracking, self.slot, expected, position, size)
            rows: list[tuple[int, int, bytes, bytes]] = []
            start = 0
            if first % CHUNK and positions:
                c.execute(
                    self.db.sql(
                        f"SELECT first_position, positions, hashes FROM {chunks} "  # noqa: S608 - our names
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
                    f"INSERT INTO {chunks} (chunk, first_position, positions, hashes) "  # noqa: S608 - our names
                    "VALUES (?, ?, ?, ?) ON CONFLICT (chunk) DO UPDATE SET "
                    "positions=excluded.positions, hashes=excluded.hashes"
                ),
                rows,
            )
            c.executemany(
                self.db.sql(f"INSERT INTO {nodes_table} (level, idx, hash) VALUES (?, ?, ?)"),  # noqa: S608 - our names
                nodes,
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

    def newest_checkpoint_size(self, c: Any) -> int:
        """Inside a switch's transaction: the largest signed size (PostgreSQL: no checkpoint
        can be added until the switch commits)."""
        if self.db.is_postgres:
            c.execute("LOCK TABLE audit_checkpoints IN SHARE MODE")
        c.execute("SELECT MAX(size) AS size FROM audit_checkpoints")
        row = c.fetchone()
        return int(row["size"] or 0) if row else 0


def _chunk_leaves(row: Any) -> list[Leaf]:
    first = int(row["chunk"]) * CHUNK
    positions = unpack_positions(bytes(row["positions"]))
    hashes = unpack_hashes(bytes(row["hashes"]))
    return [Leaf(first + i, p, h) for i, (p, h) in enumerate(zip(positions, hashes, strict=True))]


class CheckpointMismatch(RefusedGeneration):
    """A rebuilt tree does not give the root of a stored checkpoint: the rebuild is refused."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__(list(sizes))  # plain arguments: it crosses process boundaries
        self.sizes = list(sizes)

    def __str__(self) -> str:
        sizes = ", ".join(map(str, self.sizes))
        return f"the events no longer give the signed tree of size {sizes}"


class AuditProjection:
    """Appends each event's leaf hash to the tree; signs a checkpoint of the committed tree when
    it has caught up, and at least every CHECKPOINT_EVERY_SECONDS under a steady stream; never
    twice for one size. Without a `slot` it follows (and signs from) the serving generation;
    `beside()` gives the projection that builds a new one, which never signs: it is checked
    against every stored checkpoint before it may serve."""

    name = AUDIT

    def __init__(
        self, store: AuditStore, signer: NoteSigner, origin: str, slot: Slot | None = None
    ) -> None:
        self.stores = store
        self.signer = signer
        self.origin = origin
        self.follows_serving = slot is None
        self.slot = slot or store.generations.serving(AUDIT)
        self._checked = 0
        self.reload()

    @property
    def position(self) -> int:
        return self._position

    def reload(self) -> None:
        if self.follows_serving:
            self.slot = self.stores.generations.serving(AUDIT)
        self.store = self.stores.at(self.slot)
        position, size = self.store.tracking.tracked(self.slot.tracking)
        self._position = self.committed = position
        """`committed`: the position its tables hold (a rebuild folds on past it in memory)."""
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

    def due(self) -> bool:
        """A rebuild commits the tree every page: what a commit writes is what the page added."""
        return True

    def commit(self, expected: int) -> None:
        first = self.tree.size
        nodes = self.tree.extend(self._hashes, keep_from=CHUNK_LEVEL)
        checkpoint = None
        if self.slot.serving and time.monotonic() - self._signed_at >= CHECKPOINT_EVERY_SECONDS:
            checkpoint = self._due_checkpoint()
        self.store.commit(
            expected, self._position, first, self._positions, self._hashes, nodes, checkpoint
        )
        self.committed = self._position
        self._positions, self._hashes = [], []
        self._signed(checkpoint)

    def caught_up(self) -> None:
        checkpoint = self._due_checkpoint() if self.slot.serving else None
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

    # -- rebuilding beside the serving tables --------------------------------------------------

    def moved(self) -> bool:
        return self.follows_serving and self.stores.generations.moved(self.slot)

    def beside(self) -> AuditProjection:
        """The projection of the generation a rebuild fills (resumed if one is under way for
        this version), beside the serving tables."""
        slot = self.stores.generations.begin(self.stores.layout)
        return AuditProjection(self.stores, self.signer, self.origin, slot)

    def check(self, log_end: Callable[[], int]) -> None:
        """CheckpointMismatch unless the tree gives every stored checkpoint not checked yet
        that it reaches; one beyond it is a mismatch too once `log_end()` (the last position
        stored, read after the checkpoints) shows no event left to fold."""
        size, checked = self.tree.size, self._checked
        bad: list[int] = []
        beyond: list[int] = []
        while page := self.store.checkpoints(checked, 1000):  # oldest first
            reached = [cp for cp in page if cp.size <= size]
            bad += [cp.size for cp in reached if self.store.root(cp.size) != cp.root]
            beyond += [cp.size for cp in page[len(reached) :]]
            checked = reached[-1].size if reached else checked
            if beyond:
                break
        if beyond and self._position >= log_end():
            bad += beyond
        if bad:
            raise CheckpointMismatch(bad)
        self._checked = checked

    def switch(self) -> bool | None:
        """GenerationTable.switch of this (building) generation, once every stored checkpoint
        has been checked against its tree (one signed meanwhile: not yet)."""
        return self.stores.generations.switch(
            self.stores.layout,
            self.slot,
            lambda c: self.store.newest_checkpoint_size(c) <= self._checked,
        )

    def abandon(self) -> None:
        self.stores.generations.abandon(self.stores.layout, self.slot)

    def sweep(self) -> None:
        """The janitor, for the generations a switch retired (GenerationTable.sweep_after)."""
        self.stores.generations.sweep_after(self.stores.layout)
