#!/usr/bin/env python3
"""The replay half of scripts/bench/bench.py: build a large SQLite ledger once, then time a full
rebuild of every projection against the rate at which the same events can merely be read.

    python scripts/bench/replay.py build   DB EVENTS   # cached: a finished DB is kept as is
    python scripts/bench/replay.py rebuild DB [JOBS]   # prints JSON: seconds per projection, RSS
    python scripts/bench/replay.py read    DB          # prints JSON: raw and library read rates

Each measurement runs in a fresh process, so its peak RSS (`ru_maxrss` of the process itself, or
of its largest child) is the rebuild's alone, not the bench's or a server's. `rebuild` does what
`verdict rebuild --jobs JOBS` does (api/server/rebuilding.py: every projection reset and
re-folded, one process each unless JOBS is 1, then the stored checkpoints checked), timing the
whole and each projection. `read` gives the two ceilings: the sqlite3 module reading every row
of the events table with orjson.loads of each state (the raw rate the issue names), and
eventsourcing's `select_notifications` pages turned into `LedgerEvent`s (what the follower reads
before any fold), so the gap between them and the rebuild can be split into reading, folding and
writing."""

from __future__ import annotations

import json
import os
import random
import resource
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from big_ledger import fill

from api.bootstrap import open_runtime
from api.server.rebuilding import default_jobs, rebuild_views
from domain.application import Ledger
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.following.rebuild import read_events

BUILD_FORMAT = 1
"""Bump when the generated ledger changes, so cached files are rebuilt."""


def _settings(db: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{db}", group_commit=False)


def build(db: Path, events: int) -> dict[str, Any]:
    """A ledger of exactly `events` events: the demo data, then ballots (with changes of mind)
    saved many per transaction (scripts/bench/big_ledger.py's `fill`). Written to a temporary name
    and renamed when complete, with a marker recording how it was made, so a cache hit is
    never a half-built file."""
    marker = db.with_suffix(".json")
    wanted = {"format": BUILD_FORMAT, "events": events}
    if db.exists() and marker.exists() and json.loads(marker.read_text()) == wanted:
        return {"cached": True, "seconds": 0.0}
    started = time.perf_counter()
    partial = db.with_suffix(".partial")
    for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm"), marker):
        stale.unlink(missing_ok=True)
    ledger = Ledger(_settings(partial))
    seed_demo(ledger)
    fill(ledger, events, random.Random(events))
    stored = ledger.recorder.max_notification_id()
    ledger.close()
    if stored != events:
        raise RuntimeError(f"built {stored} events, wanted {events}")
    _checkpoint_wal(partial)
    partial.rename(db)
    marker.write_text(json.dumps(wanted))
    return {"cached": False, "seconds": time.perf_counter() - started}


def _checkpoint_wal(db: Path) -> None:
    """Fold the WAL into the file, so a copy of the one file is the whole ledger."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")


def rebuild(db: Path, jobs: int) -> dict[str, Any]:
    """`verdict rebuild --jobs JOBS`, timed: wall-clock in total up to the switches, each
    projection's own time, and apart the janitor's after them (dropping the old tables);
    peak RSS of this process and of the largest child (with jobs > 1 each projection is
    rebuilt in a child process)."""
    rss_start = _peak_rss_kib()
    runtime = open_runtime(_settings(db))
    try:
        events = runtime.ledger.recorder.max_notification_id() or 0
        started, cpu = time.perf_counter(), _cpu_seconds()
        rebuilt = rebuild_views(runtime, jobs=jobs)
        swept = sum(r.sweep_seconds for r in rebuilt)  # after the switches, one at a time
        total, cpu = time.perf_counter() - started - swept, _cpu_seconds() - cpu
        mismatched = runtime.audit.mismatched_checkpoints()
    finally:
        runtime.close()
    children = int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {
        "events": events,
        "jobs": jobs,
        "seconds": {r.name: r.seconds for r in rebuilt},
        "total_seconds": total,
        "sweep_seconds": swept,
        "cpu_seconds": cpu,
        "mismatched_checkpoints": len(mismatched),
        "peak_rss_kib": max(_peak_rss_kib(), children),
        "parent_rss_kib": _peak_rss_kib(),
        "child_rss_kib": children,
        "rss_before_kib": rss_start,
    }


def read(db: Path) -> dict[str, Any]:
    """The ceilings: rows straight from sqlite3 plus orjson, and the library's own read path."""
    conn = sqlite3.connect(db)
    started, cpu = time.perf_counter(), _cpu_seconds()
    rows = 0
    cursor = conn.execute(
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
        "ORDER BY rowid"
    )
    while page := cursor.fetchmany(10_000):
        for row in page:
            orjson.loads(row[4])
        rows += len(page)
    raw, raw_cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    conn.close()
    ledger = Ledger(_settings(db).model_copy(update={"create_tables": False}))
    started = time.perf_counter()
    decoded = sum(1 for _ in read_events(ledger.recorder))
    library = time.perf_counter() - started
    ledger.close()
    return {
        "events": rows,
        "raw_seconds": raw,
        "raw_cpu_seconds": raw_cpu,
        "library_events": decoded,
        "library_seconds": library,
    }


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children: on a shared machine, the figure
    that moves least with the load (a wall-clock rate also counts the waits for a core)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss_kib() -> int:
    """Peak resident set of this process (Linux reports ru_maxrss in KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: list[str]) -> int:
    command, db, *rest = argv
    os.environ.setdefault("TQDM_DISABLE", "1")
    if command == "build":
        result = build(Path(db), int(rest[0]))
    elif command == "rebuild":
        result = rebuild(Path(db), int(rest[0]) if rest else default_jobs())
    elif command == "read":
        result = read(Path(db))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
