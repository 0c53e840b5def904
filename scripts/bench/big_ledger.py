#!/usr/bin/env python3
"""Fill a SQLite ledger with the demo data and about N random ballot events, fast, to time the
verifier on a long log:

    .venv/bin/python scripts/bench/big_ledger.py var/big.db --events 100000
    VERDICT_DATABASE_URL=sqlite:///var/big.db .venv/bin/verdict serve --port 8001 &
    .venv/bin/python scripts/verify.py http://127.0.0.1:8001

Ballots are built as aggregates (cast, then changes, retractions and recasts, as
`Ledger.cast_vote` would decide them) and saved many to a transaction; `verdict serve` then folds
and signs them when it starts."""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from domain.application import Ledger
from domain.ballot import Ballot
from domain.seeding import seed_demo
from domain.settings import Settings

SLUGS = ("smollm3", "claude-files-api", "smolvlm2-turbo")
BATCH = 2000


def fill(ledger: Ledger, events: int, rng: random.Random) -> int:
    """About `events` ballot events by fresh voters; returns how many were written."""
    written, voter = 0, 0
    while written < events:
        batch: list[Ballot] = []
        while len(batch) < BATCH and written < events:
            voter += 1
            ballot = Ballot.cast(
                rng.choice(SLUGS), f"voter:big{voter}", rng.choice(("ship", "skip"))
            )
            written += 1
            for _ in range(min(rng.choice((0, 0, 0, 1, 2)), events - written)):
                if ballot.choice is not None and rng.random() < 0.3:
                    ballot.retract()
                else:
                    ballot.vote("ship" if ballot.choice != "ship" else "skip")
                written += 1
            batch.append(ballot)
        ledger.save(*batch)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="the SQLite file to create")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.path.exists():
        parser.error(f"{args.path} exists; give a new file")
    started = time.monotonic()
    ledger = Ledger(Settings(database_url=f"sqlite:///{args.path.resolve()}"))
    try:
        seed_demo(ledger)
        written = fill(ledger, args.events, random.Random(args.seed))
        total = ledger.recorder.max_notification_id()
    finally:
        ledger.close()
    seconds = time.monotonic() - started
    print(f"{args.path}: {total} events ({written} of them ballot events) in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
