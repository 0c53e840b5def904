"""`verdict backup FILE`: a consistent copy of a serving SQLite ledger, votes going on meanwhile.

SQLite's online backup API copies the database page by page from a read snapshot. The ledger
runs in WAL mode, where a reader never blocks a writer, so the copy is taken in ONE step: it
sees one instant of the file and votes carry on beside it. Taken in steps it would not finish
reliably: a write by any other connection between two steps restarts the backup from the first
page, and the vote writer commits many times a second (docs/performance.md). A file in
rollback-journal mode, where a reader does block writers, is copied in short steps with a pause
between them instead. The copy is written beside FILE and renamed onto it once complete, so a
backup killed halfway leaves no file that looks like one."""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

PAGES_PER_STEP = 256
"""Rollback-journal mode only: pages per step (1 MiB at 4 KiB pages), then a pause."""
PAUSE_SECONDS = 0.005


class BackupRefused(Exception):
    """Nothing was written: the source is missing or FILE exists already."""


@dataclass(frozen=True)
class BackedUp:
    pages: int
    seconds: float
    position: int
    """The last log position in the copy."""
    checkpoint: int
    """The size of the latest checkpoint in the copy (0: none)."""


def _pause(status: int, remaining: int, total: int) -> None:
    time.sleep(PAUSE_SECONDS)


def backup_sqlite(source: Path, to: Path) -> BackedUp:
    """Copy the SQLite ledger at `source` into the new file `to`."""
    if not source.is_file():
        raise BackupRefused(f"{source} is not a SQLite ledger file")
    if to.exists():
        raise BackupRefused(f"{to} exists; give a new file")
    partial = to.with_name(to.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    with (
        closing(sqlite3.connect(source, timeout=30)) as src,
        closing(sqlite3.connect(partial)) as dst,
    ):
        in_wal = src.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        if in_wal:
            src.backup(dst)
        else:
            src.backup(dst, pages=PAGES_PER_STEP, progress=_pause)
        seconds = time.perf_counter() - started
        pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
        position = dst.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0] or 0
        has_log = dst.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_checkpoints'"
        ).fetchone()
        checkpoint = 0
        if has_log:
            checkpoint = dst.execute("SELECT MAX(size) FROM audit_checkpoints").fetchone()[0] or 0
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(partial, to)
    return BackedUp(pages, seconds, int(position), int(checkpoint))
