#!/usr/bin/env python3
"""The catalog-size ledger of scripts/bench/bench.py (issue 17): 5,000 tools, ~500k voters,
1.5M events, built once through the aggregates and cached, on SQLite or PostgreSQL.

    python scripts/bench/scale_ledger.py sqlite   [--tools N] [--events N] [--cache DIR]
    python scripts/bench/scale_ledger.py postgres [--tools N] [--events N] [--postgres-url URL]

The demo data, then the tools of scripts/bench/lists.py (four verdicts each, a few ballots, a
comparison for one in ten), then ballots by fresh voters on 2.5 tools each on average drawn from
the whole catalog (scripts/bench/big_ledger.py's `fill`), until the log holds `--events`. Every
projection is then folded as `verdict rebuild` does, so a server started on a copy serves at
once, and the planner's statistics are gathered (ANALYZE on SQLite, VACUUM ANALYZE on
PostgreSQL): docs/deploy.md says why an operator does the same after a bulk load.

SQLite: var/bench/scale-TOOLS-EVENTS.db, written under a temporary name and renamed when
complete, beside a marker saying how it was made. PostgreSQL: a database of that name, built
under a temporary name and renamed when complete; the bench copies it (CREATE DATABASE ...
TEMPLATE) for each measurement. Prints one JSON line: where it is, and whether it was cached."""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from big_ledger import fill
from lists import catalog

from api.bootstrap import open_runtime
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


def build_postgres(admin_url: str, tools: int, events: int) -> dict[str, Any]:
    final = name(tools, events)
    partial = f"{final}_partial"
    base = admin_url.rsplit("/", 1)[0]
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (final,)).fetchone()
        if found:
            return {"cached": True, "seconds": 0.0, "database": final}
        admin.execute(f'DROP DATABASE IF EXISTS "{partial}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{partial}"')
    started = time.perf_counter()
    fill_ledger(f"{base}/{partial}", tools, events)
    with psycopg.connect(f"{base}/{partial}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'ALTER DATABASE "{partial}" RENAME TO "{final}"')
    return {"cached": False, "seconds": time.perf_counter() - started, "database": final}


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
        result = build_postgres(args.postgres_url, args.tools, args.events)
    print(json.dumps({**result, "tools": args.tools, "events": args.events}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
