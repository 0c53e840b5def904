#!/usr/bin/env python3
"""Time `verdict copy` of a ledger into another store, its two phases apart:

    .venv/bin/python scripts/bench/big_ledger.py var/big.db --events 1000000
    VERDICT_DATABASE_URL=sqlite:///var/big.db .venv/bin/verdict rebuild   # its checkpoints
    createdb -h 127.0.0.1 -U postgres copy_bench
    .venv/bin/python scripts/bench/copying.py sqlite:///var/big.db postgresql://postgres@127.0.0.1:5432/copy_bench

It runs the same `copy_ledger` as the command and prints one JSON object: events copied, the
seconds and events/s of the events phase (read, write in batches, commit) and of the rebuild
of the target's views (with its check of every copied checkpoint), and the whole."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

import orjson

from api.server.copying import BATCH, copy_ledger
from domain.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="the ledger's URL")
    parser.add_argument("target", help="the store to copy it into (empty, or a prefix of it)")
    parser.add_argument("--batch", type=int, default=BATCH)
    args = parser.parse_args(argv)
    marks: dict[str, float] = {}

    def timed(name: str) -> Callable[[int], None]:
        marks[name] = time.perf_counter()

        def step(_: int) -> None:
            marks[f"{name}_end"] = time.perf_counter()

        return step

    started = time.perf_counter()
    copied = copy_ledger(
        Settings(database_url=args.source),
        Settings(database_url=args.target),
        batch=args.batch,
        events_bar=lambda total, held: timed("events"),
        rebuild_bar=lambda total: timed("rebuild"),
    )
    whole = time.perf_counter() - started
    events_s = marks.get("events_end", marks["events"]) - marks["events"]
    rebuild_s = marks.get("rebuild_end", marks["rebuild"]) - marks["rebuild"]
    size = copied.held + copied.copied
    result = {
        "events": copied.copied,
        "held_before": copied.held,
        "batch": args.batch,
        "events_seconds": round(events_s, 2),
        "events_per_second": round(copied.copied / events_s) if events_s else None,
        "rebuild_seconds": round(rebuild_s, 2),
        "rebuild_events_per_second": round(size / rebuild_s) if rebuild_s else None,
        "seconds": round(whole, 2),
        "checkpoints": copied.checkpoints,
        "mismatched_checkpoints": list(copied.mismatched),
    }
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 1 if copied.mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
