"""scripts/bench/commit_pages.py: the WAL pages of a catalog commit, and whose pages they are."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from domain.application import Ledger
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.catalog.views import CatalogProjection, ViewStore
from projections.following.follower import Follower
from tests.scripts.script_module import load_script

commit_pages = load_script("bench/commit_pages.py", "commit_pages")


def _folded_demo(path: Path) -> Path:
    ledger = Ledger(Settings(database_url=f"sqlite:///{path}"))
    try:
        seed_demo(ledger)
        views = ViewStore(ledger.recorder)
        views.create_tables()
        Follower(ledger.recorder, CatalogProjection(views)).catch_up()
    finally:
        ledger.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def test_a_commit_writes_the_tools_pages_and_names_their_tables(tmp_path: Path) -> None:
    """Each commit of votes writes pages, the tool documents' table among them, and every
    page counted is attributed (the by-table means add up to the frames)."""
    ledger = _folded_demo(tmp_path / "demo.db")
    out = tmp_path / "pages.json"
    args = [str(ledger), "--votes", "5", "--batches", "3", "--warm", "10", "--json", str(out)]
    assert commit_pages.main(args) == 0
    figures = json.loads(out.read_text())
    assert figures["tools"] == 6
    assert len(figures["frames"]) == 3 and min(figures["frames"]) > 0
    owners = figures["pages_by_owner"]
    assert any(name.startswith("view_tools_g") for name in owners)
    assert sum(owners.values()) == sum(figures["frames"]) / 3


def test_wal_pages_reads_each_frames_page_number(tmp_path: Path) -> None:
    """A WAL written by SQLite itself: the frames' page numbers are pages of the file."""
    path = tmp_path / "w.db"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("CREATE TABLE t (x BLOB)")
        db.execute("INSERT INTO t VALUES (zeroblob(20000))")
        pages = commit_pages.wal_pages(Path(f"{path}-wal"))
        count = db.execute("PRAGMA page_count").fetchone()[0]
    finally:
        db.close()
    assert len(pages) >= 5 and set(pages) <= set(range(1, count + 1))
