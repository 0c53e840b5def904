#!/usr/bin/env python3
"""What the API process's catalog poller costs under load, measured beside a running service:

    PYTHONPATH=TREE python scripts/bench/poller_cpu.py DATABASE_URL DELAY DURATION OUT.json

It runs the poller of the tree on PYTHONPATH (the code being measured, as scripts/bench/
catalog_costs.py passes it) against the service's database at the service's poll interval.
Once set up it prints `ready` and waits for a line on its standard input (so a slow start on a
busy machine shifts no window); DELAY seconds later it measures for DURATION seconds, then
writes the CPU seconds its refreshes took per second, how many refreshes moved the snapshot,
and how many documents they read in all. It is a second poller beside the service's own
(whose thread's CPU cannot be told apart from the rest of the process), doing the same reads."""

from __future__ import annotations

import json
import sys
import time

from domain.application import Ledger
from domain.settings import Settings
from projections.catalog.poller import CATALOG_POLL_SECONDS, CatalogPoller
from projections.catalog.views import ViewStore


def main(argv: list[str]) -> int:
    url, delay, duration, out = argv[0], float(argv[1]), float(argv[2]), argv[3]
    ledger = Ledger(Settings(database_url=url, create_tables=False))
    try:
        poller = CatalogPoller(ViewStore(ledger.recorder))
        poller.refresh()
        print("ready", flush=True)
        sys.stdin.readline()
        start_at = time.time() + delay
        time.sleep(delay)
        cpu, moved, documents = time.thread_time(), 0, 0
        end = start_at + duration
        while time.time() < end:
            held = poller.snapshot
            poller.refresh()
            if poller.snapshot is not held and poller.snapshot is not None:
                moved += 1
                documents += getattr(poller, "documents_read", len(poller.snapshot.tools))
            time.sleep(CATALOG_POLL_SECONDS)
        cpu = time.thread_time() - cpu
    finally:
        ledger.close()
    figures = {"cpu_per_s": cpu / duration, "refreshes": moved, "documents_read": documents}
    with open(out, "w") as f:
        json.dump(figures, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
