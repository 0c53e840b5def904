"""The transparency log's chunked tables on a real store (SQLite and PostgreSQL): whatever the
commit sizes, leaves, positions, roots and proofs equal the plain Merkle functions over the
events' leaf hashes, and a rebuild writes the very same rows."""

from __future__ import annotations

import random

from api.bootstrap import Runtime, open_runtime
from domain.settings import Settings
from projections.audit import merkle
from projections.audit.log import CHUNK, AuditStore, StoredCheckpoint
from projections.following.follower import Follower
from projections.following.rebuild import rebuild
from tests.builders import list_tools, restarted, vote_in_random_commits


def rows(store: AuditStore) -> list[tuple[object, ...]]:
    found = store.db.fetch("SELECT chunk, first_position, positions, hashes FROM audit_leaf_chunks")
    nodes = store.db.fetch("SELECT level, idx, hash FROM audit_nodes")
    return sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in found) + [
        (int(r["level"]), int(r["idx"]), bytes(r["hash"])) for r in nodes
    ]


def test_chunked_log_equals_the_plain_merkle_tree(settings: Settings) -> None:
    """Commits of random sizes across chunk boundaries: every leaf, position lookup, root and
    proof equals the in-memory tree over the events; a rebuild gives identical rows."""
    runtime = open_runtime(settings)
    try:
        ledger, store = runtime.ledger, runtime.audit
        events = vote_in_random_commits(
            ledger,
            runtime.audit_projection,
            seed=6,
            votes=2 * CHUNK + 11,
            beta_every=3,
            small_page=7,
            largest_page=90,
        )
        hashes = [merkle.leaf_hash(e.canonical()) for e in events]
        plain = merkle.MemoryNodes.of(hashes)
        size = len(events)
        assert store.size() == size > 2 * CHUNK
        leaves = store.leaves(0, size + 5)
        assert [(x.index, x.position, x.hash) for x in leaves] == [
            (i, e.position, hashes[i]) for i, e in enumerate(events)
        ]
        assert store.leaves(CHUNK - 2, 5) == leaves[CHUNK - 2 : CHUNK + 3]
        past_the_end = [size, size + CHUNK]
        scattered = [*random.Random(6).sample(range(size), 40), *past_the_end]
        assert store.leaves_at(scattered) == [leaves[i] for i in sorted(scattered) if i < size]
        assert store.leaves_at([]) == []
        some = sorted(scattered[:20])
        assert merkle.inclusion_proofs(some, size, store) == [
            merkle.inclusion_proof(i, size, plain) for i in some
        ]
        for leaf in leaves:
            assert store.leaf_at_position(leaf.position) == leaf
        assert store.leaf_at_position(events[-1].position + 1) is None
        for n in range(1, size + 1):
            assert store.root(n) == merkle.root(n, plain)
        for index, n in [(0, size), (CHUNK + 3, size), (size - 1, size), (5, CHUNK + 1)]:
            assert merkle.inclusion_proof(index, n, store) == merkle.inclusion_proof(
                index, n, plain
            )
        for first, second in [(1, size), (CHUNK, size), (CHUNK + 1, size - 1), (7, 9)]:
            assert merkle.consistency_proof(first, second, store) == merkle.consistency_proof(
                first, second, plain
            )
        live = rows(store)
        rebuild(ledger.recorder, runtime.audit_projection(), page_size=CHUNK + 1)
        assert rows(store) == live
        assert store.mismatched_checkpoints() == []
    finally:
        runtime.close()


def test_a_log_in_the_old_layout_is_rebuilt_at_start(settings: Settings) -> None:
    """A database with the one-row-per-leaf tables: they are dropped at start, the log is
    followed again from the first event, and its signed checkpoints still match."""

    def old_layout(runtime: Runtime) -> StoredCheckpoint:
        list_tools(runtime.ledger, "alpha")
        Follower(runtime.ledger.recorder, runtime.audit_projection()).catch_up()
        signed = runtime.audit.latest_checkpoint()
        assert signed is not None
        runtime.audit.db.execute("CREATE TABLE audit_leaves (leaf_index BIGINT PRIMARY KEY)")
        return signed

    with restarted(settings, old_layout) as (runtime, signed):
        assert not runtime.audit.db.has_table("audit_leaves")
        assert runtime.audit.size() == 0
        Follower(runtime.ledger.recorder, runtime.audit_projection()).catch_up()
        assert runtime.audit.root(signed.size) == signed.root
        assert runtime.audit.mismatched_checkpoints() == []
