#!/usr/bin/env python3
"""Fill a SQLite ledger with the demo data and N random ballot events, fast, to time the
verifier on a long log:

    .venv/bin/python scripts/bench/big_ledger.py var/big.db --events 100000
    VERDICT_DATABASE_URL=sqlite:///var/big.db .venv/bin/verdict serve --port 8001 &
    .venv/bin/python scripts/verify.py http://127.0.0.1:8001

Ballots are built as aggregates (cast, then perhaps a change of mind, as `Ledger.vote`
would decide them) and saved many to a transaction; `verdict serve` then folds
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
from domain.demo_data import TOOLS
from domain.panel import Panel
from domain.rules import DEFAULT_SEATS
from domain.seeding import seed_demo
from domain.settings import Settings
from domain.tool import Tool

CHANGE_RATE = 0.2
"""Share of ballots that also record a change of mind (a second event on the same ballot)."""
SAVE_BATCH = 5000
"""Ballots per `Ledger.save`: one transaction each, as group commit writes them."""
BENCH_EDITOR = "editor:bench"
CATEGORIES = ("Coding", "Writing", "Images", "Audio", "Research", "Agents", "Data", "Video")


def fill(
    ledger: Ledger,
    events: int,
    rng: random.Random,
    slugs: Sequence[str] | None = None,
    tools_per_voter: float | None = None,
) -> int:
    """Ballots by fresh voters, each on every tool of `slugs` (the demo tools by default) in
    turn, or on `tools_per_voter` of them on average drawn at random, some with a change of
    mind, until the log holds exactly `events` events; how many were written. The one
    big-ledger generator: scripts/bench/replay.py and scripts/bench/scale_ledger.py build the
    bench's ledgers with it too."""
    slugs = list(slugs) if slugs is not None else [t.slug for t in TOOLS]
    start = written = ledger.recorder.max_notification_id() or 0
    voter = 0
    while written < events:
        batch: list[Ballot] = []
        while len(batch) < SAVE_BATCH and written < events:
            actor = f"voter:v_bench{voter:09d}"
            voter += 1
            chosen = slugs
            if tools_per_voter is not None:
                whole, part = divmod(tools_per_voter, 1)
                chosen = rng.sample(slugs, int(whole) + (rng.random() < part))
            for slug in chosen:
                if written >= events:
                    break
                ballot = Ballot.cast(slug, actor, rng.choice(("ship", "skip")))
                written += 1
                if written < events and rng.random() < CHANGE_RATE:
                    ballot.vote("skip" if ballot.choice == "ship" else "ship")
                    written += 1
                batch.append(ballot)
        ledger.save(*batch)
    return written - start


def list_catalog(ledger: Ledger, tools: int, rng: random.Random) -> list[str]:
    """List `tools` tools beside the demo ones, each with a verdict in every seat, saved many
    to a transaction; every slug of the catalog, demo tools first."""
    slugs = [f"bench-tool-{n:05d}" for n in range(max(0, tools - len(TOOLS)))]
    for start in range(0, len(slugs), SAVE_BATCH // 5):
        batch: list[Tool | Panel] = []
        for slug in slugs[start : start + SAVE_BATCH // 5]:
            listing = {
                "name": slug.replace("-", " ").title(),
                "category": rng.choice(CATEGORIES),
                "tagline": f"{slug}, listed for the benchmark",
                "description": f"{slug} is one of the benchmark's many tools.",
                "pricing": "Free",
            }
            panel = Panel.open(slug, BENCH_EDITOR)
            for seat in DEFAULT_SEATS:
                decision = rng.choice(("ship", "skip"))
                panel.publish(
                    seat, f"{seat} reviewer", decision, f"{decision}, says the bench.", BENCH_EDITOR
                )
            batch += [Tool.list(slug, listing, BENCH_EDITOR), panel]
        ledger.save(*batch)
    return [t.slug for t in TOOLS] + slugs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="the SQLite file to create")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tools", type=int, default=len(TOOLS), help="tools in the catalog")
    args = parser.parse_args(argv)
    if args.path.exists():
        parser.error(f"{args.path} exists; give a new file")
    started = time.monotonic()
    ledger = Ledger(Settings(database_url=f"sqlite:///{args.path.resolve()}"))
    try:
        seed_demo(ledger)
        rng = random.Random(args.seed)
        slugs = list_catalog(ledger, args.tools, rng)
        seeded = ledger.recorder.max_notification_id() or 0
        written = fill(ledger, seeded + args.events, rng, slugs)
        total = ledger.recorder.max_notification_id()
    finally:
        ledger.close()
    seconds = time.monotonic() - started
    print(f"{args.path}: {total} events ({written} of them ballot events) in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
