"""Backups: `verdict backup` of a serving SQLite ledger while votes are written misses nothing
acknowledged before it began, rebuilds and verifies, and with the events written since it
verifies against the checkpoints signed after it; a PostgreSQL ledger's `pg_dump`, restored,
verifies too (the recipe of docs/deploy.md)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from api.bootstrap import open_runtime
from api.server import backup
from api.server.cli import main
from api.server.copying import RawEvents, held_prefix
from domain.application import Ledger
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.following.follower import Follower
from tests.conftest import fresh_postgres_database
from tests.scripts.serving_audit import Served, verdict_line, verify
from tests.serving import ROOT, serving

SLUGS = ("smollm3", "claude-files-api", "smolvlm2-turbo")


def postgres_tool(name: str) -> str:
    """PostgreSQL's client programs, which the backup recipe uses (they must be installed)."""
    path = shutil.which(name)
    assert path is not None, f"{name} is not installed"
    return path


def vote_until(served: Served, stop: threading.Event, acks: list[tuple[float, int]]) -> None:
    """Fresh voters cast one vote each until `stop`; each acknowledgment's time and position."""
    with served.http() as http:
        i = 0
        while not stop.is_set():
            token = http.post("/v1/voters").json()["token"]
            answer = http.put(
                f"/v1/tools/{SLUGS[i % 3]}/vote",
                json={"choice": "ship" if i % 2 else "skip"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 201, answer.text
            acks.append((time.monotonic(), answer.json()["receipt"]["position"]))
            i += 1


def verdict(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VERDICT_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "api.server.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def positions(path: Path) -> set[int]:
    with closing(sqlite3.connect(path)) as db:
        return {row[0] for row in db.execute("SELECT rowid FROM stored_events")}


@pytest.mark.slow
def test_a_backup_taken_while_votes_are_written_misses_nothing_and_continues_the_log(
    tmp_path: Path,
) -> None:
    """Votes over HTTP before, during and after `verdict backup`: every vote acknowledged before
    the backup began is in it; it is a prefix of the live log; `verdict rebuild` of it exits 0;
    completed with the events written since (`verdict copy`), every checkpoint the live ledger
    signed after it checks, and its export verifies with the live ledger's key."""
    live = Settings(database_url=f"sqlite:///{tmp_path}/live.db")
    copy_file = tmp_path / "backup.db"
    stop, acks = threading.Event(), list[tuple[float, int]]()
    with (
        serving(live, tmp_path / "serve.log") as served,
        closing(sqlite3.connect(tmp_path / "live.db", isolation_level=None)) as reader,
    ):
        # A reader holding a snapshot from before the votes (a long export, say) keeps SQLite
        # from checkpointing them into the main file: they live in the WAL, and only a backup
        # that reads through SQLite, not a copy of the file, has them.
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM stored_events").fetchone()
        voter = threading.Thread(target=vote_until, args=(served, stop, acks))
        voter.start()
        try:
            while len(acks) < 30:
                time.sleep(0.05)
            began = time.monotonic()
            done = verdict("backup", str(copy_file), url=live.database_url)
            ended = time.monotonic()
            while not [t for t, _ in acks if t > ended + 0.5]:
                time.sleep(0.05)
        finally:
            stop.set()
            voter.join(timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("backed up ")
        before = {position for t, position in acks if t < began}
        assert before, "no vote was acknowledged before the backup began"
        assert before <= positions(copy_file)
        assert max(p for _, p in acks) not in positions(copy_file), "votes after it, in it?"
        with served.http() as http:
            key = http.get("/v1/audit/public-key").json()["verifier_key"]
    restored = Settings(database_url=f"sqlite:///{copy_file}")
    rebuilt = verdict("rebuild", url=restored.database_url)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    ours, theirs = Ledger(live), Ledger(restored)
    try:
        held = held_prefix(RawEvents(ours.recorder), RawEvents(theirs.recorder))
        assert held[1] == len(positions(copy_file))
    finally:
        ours.close()
        theirs.close()
    completed = verdict("copy", "--to", restored.database_url, url=live.database_url)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert positions(copy_file) == positions(tmp_path / "live.db")
    assert verdict("export", str(tmp_path / "x.ndjson"), url=restored.database_url).returncode == 0
    code, out = verify("--export", str(tmp_path / "x.ndjson"), "--public-key", key)
    assert code == 0, out


def test_backup_refuses_postgres_an_existing_file_and_a_missing_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each refusal is one line on stderr and exit 2; nothing is written."""
    monkeypatch.setenv("VERDICT_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/nowhere")
    assert main(["backup", str(tmp_path / "b.db")]) == 2
    assert "pg_dump" in capsys.readouterr().err
    monkeypatch.setenv("VERDICT_DATABASE_URL", f"sqlite:///{tmp_path}/missing.db")
    assert main(["backup", str(tmp_path / "b.db")]) == 2
    assert "is not a SQLite ledger file" in capsys.readouterr().err
    assert not (tmp_path / "b.db").exists()
    ledger = Ledger(Settings(database_url=f"sqlite:///{tmp_path}/a.db"))
    ledger.close()
    monkeypatch.setenv("VERDICT_DATABASE_URL", f"sqlite:///{tmp_path}/a.db")
    (tmp_path / "b.db").write_bytes(b"keep me")
    assert main(["backup", str(tmp_path / "b.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"verdict backup: refused: {tmp_path / 'b.db'} exists; give a new file"
    assert (tmp_path / "b.db").read_bytes() == b"keep me"


def test_a_file_in_rollback_journal_mode_is_copied_in_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not our ledgers' mode, but a file someone switched back: copied whole, in many steps."""
    source = tmp_path / "journal.db"
    with closing(sqlite3.connect(source)) as db, db:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("CREATE TABLE stored_events (originator_id TEXT, state BLOB)")
        db.executemany(
            "INSERT INTO stored_events VALUES (?, ?)", [(str(i), b"s" * 2000) for i in range(3000)]
        )
    steps: list[int] = []
    monkeypatch.setattr(backup, "_pause", lambda status, remaining, total: steps.append(remaining))
    done = backup.backup_sqlite(source, tmp_path / "copy.db")
    assert len(steps) > 5
    assert done.position == 3000
    with closing(sqlite3.connect(tmp_path / "copy.db")) as db:
        assert db.execute("SELECT COUNT(*), SUM(LENGTH(state)) FROM stored_events").fetchone() == (
            3000,
            6_000_000,
        )


@pytest.mark.postgres
def test_a_pg_dump_restored_into_a_new_database_rebuilds_and_verifies(
    tmp_path: Path, postgres_url: str
) -> None:
    """docs/deploy.md's recipe: `pg_dump -Fc`, `pg_restore` into a fresh database; the restored
    ledger holds the same events, `verdict rebuild` exits 0 and its export verifies with the
    original's key."""
    original = Settings(database_url=postgres_url)
    runtime = open_runtime(original)
    try:
        seed_demo(runtime.ledger)
        for i in range(25):
            runtime.ledger.vote(SLUGS[i % 3], f"voter:d{i}", "ship")
        for projection in runtime.projections():
            Follower(runtime.ledger.recorder, projection).catch_up()
        key = runtime.signer.verifier_key
        events = RawEvents(runtime.ledger.recorder).page(0, 10_000)
    finally:
        runtime.close()
    dump = tmp_path / "ledger.dump"
    subprocess.run(
        [postgres_tool("pg_dump"), "--format=custom", f"--file={dump}", f"--dbname={postgres_url}"],
        check=True,
        timeout=60,
    )
    with fresh_postgres_database() as url:
        restore = [postgres_tool("pg_restore"), "--no-owner", f"--dbname={url}", str(dump)]
        subprocess.run(restore, check=True, timeout=60)
        restored = Ledger(Settings(database_url=url, create_tables=False))
        try:
            assert RawEvents(restored.recorder).page(0, 10_000) == events
        finally:
            restored.close()
        rebuilt = verdict("rebuild", url=url)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert verdict("export", str(tmp_path / "x.ndjson"), url=url).returncode == 0
    code, out = verify("--export", str(tmp_path / "x.ndjson"), "--public-key", key)
    assert code == 0, out
    assert verdict_line(out).startswith(f"VERDICT: OK — {len(events)} events")
