#!/usr/bin/env python3
"""Pages one catalog commit writes to SQLite's WAL, the figure least moved by a busy machine,
and the tables and indexes they belong to:

    [PYTHONPATH=TREE PYTHONSAFEPATH=1] python scripts/bench/commit_pages.py LEDGER.db
        [--votes 100] [--batches 10] [--json PATH]

On a scratch copy of a folded ledger (e.g. var/bench/catalog-5000-300000.db, which
scripts/bench/catalog_costs.py builds), with the code of the tree on PYTHONPATH: 3,000 votes on
random tools are folded first (so a follower holds what it keeps between commits), then each of
`--batches` batches of `--votes` votes on random tools is folded in one commit, the WAL emptied
before it (a TRUNCATE checkpoint) and its frames read after it: how many, and whose pages they
are (SQLite's dbstat). Prints the sorted counts, then the mean pages a commit by table or index.
Every page is written under the file's one write lock, which the vote writer waits for, and a
checkpoint writes it again into the database file."""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import struct
import sys
import tempfile
from collections import Counter
from pathlib import Path

from domain.application import Ledger
from domain.settings import Settings
from projections.catalog.views import CatalogProjection, ViewStore
from projections.following.follower import Follower

WAL_HEADER = 32
FRAME_HEADER = 24
"""SQLite's WAL format: a 32-byte file header (the page size at byte 8), then frames, each a
24-byte header (the page number first) and the page."""


def wal_pages(wal: Path) -> list[int]:
    """The page number of each frame of a WAL file, in order."""
    data = wal.read_bytes()
    if len(data) < WAL_HEADER:
        return []
    (page_size,) = struct.unpack(">I", data[8:12])
    return [
        struct.unpack(">I", data[at : at + 4])[0]
        for at in range(WAL_HEADER, len(data) - FRAME_HEADER + 1, FRAME_HEADER + page_size)
    ]


def owners(db: sqlite3.Connection, pages: set[int]) -> dict[int, str]:
    """The table or index each page belongs to (SQLite's dbstat; a free page is nobody's)."""
    if not pages:
        return {}
    marks = ",".join("?" * len(pages))
    statement = f"SELECT pageno, name FROM dbstat WHERE pageno IN ({marks})"  # noqa: S608 - marks only
    return {int(page): str(name) for page, name in db.execute(statement, sorted(pages))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ledger", type=Path)
    parser.add_argument("--votes", type=int, default=100)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--warm", type=int, default=3000, help="votes folded before measuring")
    parser.add_argument("--json", type=Path, help="write the figures here")
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

            vote(args.warm, "warm")
            follower.catch_up()
            frames: list[int] = []
            by_owner: Counter[str] = Counter()
            for b in range(args.batches):
                vote(args.votes, str(b))
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                follower.catch_up()
                pages = wal_pages(Path(f"{db}-wal"))
                found = owners(raw, set(pages))
                by_owner.update(found.get(page, "(free)") for page in pages)
                frames.append(len(pages))
        finally:
            raw.close()
            ledger.close()
    per_commit = {name: n / args.batches for name, n in by_owner.most_common()}
    print(f"{len(slugs):,} tools: WAL pages per {args.votes}-vote catalog commit:", sorted(frames))
    for name, pages_a_commit in per_commit.items():
        print(f"  {pages_a_commit:8.1f}  {name}")
    if args.json:
        figures = {"tools": len(slugs), "votes": args.votes, "frames": sorted(frames)}
        args.json.write_text(json.dumps({**figures, "pages_by_owner": per_commit}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
