#!/usr/bin/env python3
"""The catalog-size ledger of scripts/bench/bench.py (issue 17): 5,000 tools, ~500k voters,
1.5M events, built once through the aggregates on SQLite and cached; on PostgreSQL, a copy.

    python scripts/bench/scale_ledger.py sqlite   [--tools N] [--events N] [--cache DIR]
    python scripts/bench/scale_ledger.py postgres [--tools N] [--events N] [--postgres-url URL]

The demo data, then the tools of scripts/bench/lists.py (four verdicts each, a few ballots, a
comparison for one in ten), then ballots by fresh voters on 2.5 tools each on average drawn from
the whole catalog (scripts/bench/big_ledger.py's `fill`), until the log holds `--events`. Every
projection is then folded as `verdict rebuild` does, so a server started on a copy serves at
once, and the planner's statistics are gathered (ANALYZE on SQLite, VACUUM ANALYZE on
PostgreSQL): docs/deploy.md says why an operator does the same after a bulk load.

SQLite: var/bench/scale_fF_TOOLS_EVENTS.db, written under a temporary name and renamed when
complete, beside a marker saying how it was made. PostgreSQL: a database of that name, made by
`verdict copy` of the SQLite one (built first if absent) and VACUUM ANALYZE under a temporary
name, renamed when complete; the bench copies it (CREATE DATABASE ... TEMPLATE) for each
measurement. Prints one JSON line: where it is, whether it was cached, the seconds of each step."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from big_ledger import fill
from lists import catalog

from api.bootstrap import open_runtime
from api.server.copying import copy_ledger
from api.server.rebuilding import rebuild_views
from domain.application import Ledger
from domain.demo_data import TOOLS
from domain.seeding import seed_demo
from domain.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BUILD_FORMAT = 1
"""Bump when the generated ledger changes, so cached ledgers are rebuilt."""
TOOLS_PER_VOTER = 2.5
"""Mean tools a voter votes on; with changes of mind ~3 events a voter, so 1.5M events hold
~500k voters."""


def name(tools: int, events: int) -> str:
    """The cached ledger's name: file stem on SQLite, database name on PostgreSQL."""
    return f"scale_f{BUILD_FORMAT}_{tools}_{events}"


def fill_ledger(database_url: str, tools: int, events: int) -> None:
    """The catalog, then ballots over it, through the aggregates; then every projection."""
    settings = Settings(database_url=database_url, group_commit=False)
    ledger = Ledger(settings)
    try:
        seed_demo(ledger)
        rng = random.Random(events)
        for batch in catalog(tools - len(TOOLS), rng):
            ledger.save(*batch)
        slugs = [t.slug for t in TOOLS] + [f"tool-{n:05d}" for n in range(tools - len(TOOLS))]
        fill(ledger, events, rng, slugs, TOOLS_PER_VOTER)
        stored = ledger.recorder.max_notification_id()
    finally:
        ledger.close()
    if stored != events:
        raise RuntimeError(f"built {stored} events, wanted {events}")
    runtime = open_runtime(settings)
    try:
        rebuild_views(runtime, jobs=1)
    finally:
        runtime.close()


def build_sqlite(cache: Path, tools: int, events: int) -> dict[str, Any]:
    db = cache / f"{name(tools, events)}.db"
    marker = db.with_suffix(".json")
    wanted = {"format": BUILD_FORMAT, "tools": tools, "events": events}
    if db.exists() and marker.exists() and json.loads(marker.read_text()) == wanted:
        return {"cached": True, "seconds": 0.0, "path": str(db)}
    started = time.perf_counter()
    partial = db.with_suffix(".partial")
    for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm"), marker):
        stale.unlink(missing_ok=True)
    fill_ledger(f"sqlite:///{partial}", tools, events)
    with sqlite3.connect(partial) as conn:
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    partial.rename(db)
    marker.write_text(json.dumps(wanted))
    return {"cached": False, "seconds": time.perf_counter() - started, "path": str(db)}


def build_postgres(admin_url: str, cache: Path, tools: int, events: int) -> dict[str, Any]:
    """The same ledger on PostgreSQL: `verdict copy` of the cached SQLite one (built first if
    absent), which copies the events row for row at their positions and rebuilds the views from
    them, then VACUUM ANALYZE. Folding 1.5M events through the aggregates on PostgreSQL took
    over two hours on this machine; the copy is the same events, so the same ledger."""
    final = name(tools, events)
    partial = f"{final}_partial"
    base = admin_url.rsplit("/", 1)[0]
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (final,)).fetchone()
        if found:
            return {"cached": True, "seconds": 0.0, "database": final}
    started = time.perf_counter()
    source = build_sqlite(cache, tools, events)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{partial}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{partial}"')
    copied = copy_from(Path(source["path"]), f"{base}/{partial}")
    analysing = time.perf_counter()
    with psycopg.connect(f"{base}/{partial}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    copied["analyze_seconds"] = round(time.perf_counter() - analysing, 1)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'ALTER DATABASE "{partial}" RENAME TO "{final}"')
    return {
        "cached": False,
        "seconds": time.perf_counter() - started,
        "database": final,
        "sqlite": source,
        "copy": copied,
    }


def copy_from(db: Path, target_url: str) -> dict[str, Any]:
    """`verdict copy` of the SQLite ledger `db` into the empty database at `target_url`, from a
    scratch copy of the file (opening a ledger writes to it, and the cached one stays as built);
    the seconds of each step."""
    scratch = db.with_suffix(".copying")
    marks = {"started": time.perf_counter()}
    shutil.copyfile(db, scratch)
    marks["events"] = time.perf_counter()

    def rebuilding(_: int) -> Callable[[int], None]:
        marks["rebuild"] = time.perf_counter()  # the events are in: the rebuild begins
        return lambda _: None

    try:
        done = copy_ledger(
            Settings(database_url=f"sqlite:///{scratch}"),
            Settings(database_url=target_url),
            rebuild_bar=rebuilding,
        )
    finally:
        for path in (scratch, Path(f"{scratch}-wal"), Path(f"{scratch}-shm")):
            path.unlink(missing_ok=True)
    if done.mismatched:
        raise RuntimeError(f"copied checkpoints not reproduced: {done.mismatched}")
    ended = time.perf_counter()
    rebuild = marks.get("rebuild", ended)
    return {
        "events": done.copied,
        "file_seconds": round(marks["events"] - marks["started"], 1),
        "events_seconds": round(rebuild - marks["events"], 1),
        "rebuild_seconds": round(ended - rebuild, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backend", choices=["sqlite", "postgres"])
    parser.add_argument("--tools", type=int, default=5000)
    parser.add_argument("--events", type=int, default=1_500_000)
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "VERDICT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    if args.backend == "sqlite":
        args.cache.mkdir(parents=True, exist_ok=True)
        result = build_sqlite(args.cache, args.tools, args.events)
    else:
        args.cache.mkdir(parents=True, exist_ok=True)
        result = build_postgres(args.postgres_url, args.cache, args.tools, args.events)
    print(json.dumps({**result, "tools": args.tools, "events": args.events}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
