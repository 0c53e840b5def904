#!/usr/bin/env python3
"""How fast CPython can possibly replay the audit log: the raw read of the events (what
scripts/bench/bench.py calls the ceiling) against the least work a leaf hash needs per event —
decode the state, serialise it again with sorted keys, splice the canonical bytes
(docs/audit.md) and hash them once. No Merkle interior nodes, no catalog, no writes: a real
rebuild does more.

    python scripts/bench/floor.py DB [EVENTS]   # DB: a ledger made by bench_replay.py build

Prints seconds for each and the floor's ratio to the raw read, which bounds `verdict rebuild`'s
from above (issue 6 asks ≥ 0.5 of the raw read)."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import time
from collections.abc import Callable

import orjson

SORTED = orjson.OPT_SORT_KEYS
CANONICAL = b'{"originator_id":"%b","originator_version":%d,"position":%d,"state":%b,"topic":"%b"}'


def main() -> None:
    db, events = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    connection = sqlite3.connect(db)
    query = (
        "SELECT rowid, originator_id, originator_version, topic, state "
        "FROM stored_events WHERE rowid <= ?"
    )

    def raw() -> None:
        loads = orjson.loads
        for row in connection.execute(query, (events,)).fetchall():
            loads(row[4])

    def leaf_floor() -> None:
        loads, dumps, sha = orjson.loads, orjson.dumps, hashlib.sha256
        for position, originator, version, topic, state in connection.execute(
            query, (events,)
        ).fetchall():
            canonical = CANONICAL % (
                originator.encode(),  # as stored: a real replay also adds the dashes
                version,
                position,
                dumps(loads(state), option=SORTED),
                topic.encode(),
            )
            sha(b"\x00" + canonical).digest()

    def timed(work: Callable[[], None]) -> float:
        started = time.perf_counter()
        work()
        return time.perf_counter() - started

    raw_seconds = min(timed(raw) for _ in range(2))
    floor_seconds = min(timed(leaf_floor) for _ in range(2))
    print(
        f"{events:,} events: raw read {raw_seconds:.3f} s, leaf-hash floor {floor_seconds:.3f} s, "
        f"floor ÷ raw rate {raw_seconds / floor_seconds:.2f}"
    )


if __name__ == "__main__":
    main()
