#!/usr/bin/env python3
"""Time the moderation queue's first page (api/voting/coordination.py) and show its query plans:

    .venv/bin/python scripts/bench/moderation_queue.py [--bursts N] [--database-url URL]

A fresh ledger (a SQLite file in a temporary folder, or the empty PostgreSQL database at
`--database-url`) gets the demo data, then `--bursts` bursts of 20 voters registered from one
address in one minute, each voting ship on one tool (written without group commit). Then the
first page is read 7 times: the median and the slowest. The plans of the bursts and voters
queries show which index each uses."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from api.bootstrap import open_runtime
from api.voting.coordination import coordinated
from api.voting.registrations import Registrations
from domain.demo_data import TOOLS
from domain.seeding import seed_demo
from domain.settings import Settings

PLANS = {
    "bursts": "SELECT client_hash, minute, voters FROM registration_bursts WHERE voters >= 5 "
    "AND minute >= 0 ORDER BY voters DESC, minute DESC, client_hash DESC LIMIT 21",
    "voters": "SELECT client_hash, minute, voter_id FROM voter_registrations WHERE "
    "(client_hash = 'x' AND minute = 1) OR (client_hash = 'y' AND minute = 2) "
    "ORDER BY client_hash, minute, voter_id",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'ledger.db'}"
        runtime = open_runtime(Settings(database_url=url, group_commit=False))
        seed_demo(runtime.ledger)
        registry = Registrations(runtime.credentials, retention_days=30)
        first = int(time.time() // 60) - args.bursts
        for b in range(args.bursts):
            registry.now = lambda b=b: (first + b) * 60.0
            for v in range(20):
                voter = registry.record(f"v_bench{b}x{v}", f"10.0.{b // 250}.{b % 250}")
                runtime.ledger.vote(TOOLS[b % len(TOOLS)].slug, f"voter:{voter}", "ship")
        registry.now = time.time
        db = runtime.views.db
        for name, sql in PLANS.items():
            rows = db.fetch(("EXPLAIN " if db.is_postgres else "EXPLAIN QUERY PLAN ") + sql)
            print(f"{name}: " + " | ".join(str(list(dict(r).values())[-1]) for r in rows))
        tools = [t.slug for t in TOOLS]
        times = []
        for _ in range(7):
            start = time.perf_counter()
            page = coordinated(registry, runtime.ledger, tools, None)
            times.append((time.perf_counter() - start) * 1000)
        runtime.close()
    store = "PostgreSQL" if db.is_postgres else "SQLite"
    print(
        f"{store}, {args.bursts} bursts of 20 voters, {len(tools)} tools: first page "
        f"{len(page.groups)} groups, median {statistics.median(times):.0f} ms, "
        f"slowest {max(times):.0f} ms"
    )


if __name__ == "__main__":
    main()
