#!/usr/bin/env python3
"""Pages one catalog commit writes to SQLite's WAL, the figure least moved by a busy machine:

    [PYTHONPATH=TREE PYTHONSAFEPATH=1] python scripts/bench/commit_pages.py LEDGER.db
        [--votes 100] [--batches 10]

On a scratch copy of a folded ledger (e.g. var/bench/catalog-5000-300000.db, which
scripts/bench/catalog_costs.py builds), with the code of the tree on PYTHONPATH: 3,000 votes on
random tools are folded first (so a follower holds what it keeps between commits), then each of
`--batches` batches of `--votes` votes on random tools is folded in one commit, the WAL emptied
before it (a TRUNCATE checkpoint) and its frames counted after it. Prints the sorted counts.
Every page is written under the file's one write lock, which the vote writer waits for."""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from domain.application import Ledger
from domain.settings import Settings
from projections.catalog.views import CatalogProjection, ViewStore
from projections.following.follower import Follower


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ledger", type=Path)
    parser.add_argument("--votes", type=int, default=100)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "ledger.db"
        shutil.copyfile(args.ledger, db)
        ledger = Ledger(Settings(database_url=f"sqlite:///{db}"))
        raw = sqlite3.connect(db, isolation_level=None)
        try:
            views = ViewStore(ledger.recorder)
            views.create_tables()
            slugs = [r["slug"] for r in views.db.fetch("SELECT slug FROM view_tools")]
            follower = Follower(ledger.recorder, CatalogProjection(views))
            rng = random.Random(1)

            def vote(n: int, tag: str) -> None:
                for i in range(n):
                    ledger.vote(rng.choice(slugs), f"voter:pages{tag}x{i}", "ship")

            vote(3000, "warm")
            follower.catch_up()
            frames = []
            for b in range(args.batches):
                vote(args.votes, str(b))
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                follower.catch_up()
                frames.append(raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
        finally:
            raw.close()
            ledger.close()
    print(f"{len(slugs):,} tools: WAL pages per {args.votes}-vote catalog commit:", sorted(frames))
    return 0


if __name__ == "__main__":
    sys.exit(main())
