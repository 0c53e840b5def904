"""`verdict copy --to URL`: SQLite → PostgreSQL → SQLite keeps every event at its position, every
secret, key and checkpoint, and rebuilds the same views; killed at random moments and run again,
it finishes exactly; a target holding anything but a prefix of the source is refused."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.bootstrap import open_runtime
from api.server.cli import main
from api.server.copying import RawEvents, held_prefix
from domain.application import Ledger
from domain.ballot import Ballot
from domain.errors import UnknownBallot
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit.cosignature import Cosigner
from projections.audit.signed_note import split_note
from projections.following.follower import Follower
from tests.api.server.test_rebuilding import snapshot
from tests.conftest import fresh_postgres_database
from tests.scripts.serving_audit import verdict_line, verify
from tests.serving import ROOT

SLUGS = ("smollm3", "claude-files-api", "smolvlm2-turbo")
SIGNING = "checkpoint-ed25519"
HISTORY = (
    "ledger_secrets",
    "api_keys",
    "audit_checkpoints",
    "audit_cosignatures",
    "audit_witnesses",
)
WITNESS = Cosigner("witness.example/w1", Ed25519PrivateKey.generate())


def sqlite(path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{path}")


def build(settings: Settings, rounds: int = 3, votes: int = 40) -> list[str]:
    """The demo data, then `rounds` of votes and retractions, the log followed and signed after
    each round (a checkpoint per round), each cosigned by a witness; an editor key; the
    checkpoint notes, oldest first."""
    runtime = open_runtime(settings)
    try:
        seed_demo(runtime.ledger)
        runtime.credentials.create_key("ann")
        rng = random.Random(7)
        for _ in range(rounds):
            for i in range(votes):
                voter = f"voter:v{rng.randrange(15)}"
                slug = rng.choice(SLUGS)
                try:
                    if rng.random() < 0.2:
                        runtime.ledger.vote(slug, voter, None)
                    else:
                        runtime.ledger.vote(slug, voter, rng.choice(("ship", "skip")))
                except UnknownBallot:
                    pass  # nothing to retract
                if settings.is_postgres and i % 9 == 0:
                    gap_in_positions(runtime.ledger)
            for projection in runtime.projections():
                Follower(runtime.ledger.recorder, projection).catch_up()
            newest = runtime.audit.checkpoints()[-1]
            line = WITNESS.cosign(split_note(newest.note)[0], int(time.time())).rstrip("\n")
            runtime.witnessed.cosigned(
                "http://127.0.0.1:9/w1", WITNESS.verifier_key, newest.size, line
            )
        return [cp.note for cp in runtime.audit.checkpoints()]
    finally:
        runtime.close()


def gap_in_positions(ledger: Ledger) -> None:
    """Take a notification id and never use it, as a rolled-back insert does on PostgreSQL."""
    recorder: Any = ledger.recorder
    with recorder.datastore.transaction(commit=True) as c:
        c.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))",
            (recorder.events_table_name,),
        )


def store_state(settings: Settings) -> dict[str, Any]:
    """What a copy must reproduce: every event row (with its position), every history row, and
    every derived row, leaf hashes and roots at every signed size."""
    runtime = open_runtime(settings.model_copy(update={"create_tables": False}))
    try:
        events = RawEvents(runtime.ledger.recorder)
        audit = runtime.audit
        history = {
            table: sorted(
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in audit.db.fetch_tuples(f"SELECT * FROM {table}")  # noqa: S608 - ours
            )
            for table in HISTORY
        }
        size = audit.size()
        return {
            "events": events.page(0, 1_000_000),
            "history": history,
            "derived": snapshot(audit),
            "leaves": audit.leaves(0, size),
            "roots": {cp.size: audit.root(cp.size) for cp in audit.checkpoints()},
            "verifier_key": runtime.signer.verifier_key,
        }
    finally:
        runtime.close()


def events_of(settings: Settings) -> list[Any]:
    """The stored event rows alone (the store may have no other tables)."""
    ledger = Ledger(settings)
    try:
        return RawEvents(ledger.recorder).page(0, 1_000_000)
    finally:
        ledger.close()


def copy(source: Settings, to: Settings, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("VERDICT_DATABASE_URL", source.database_url)
    return main(["copy", "--to", to.database_url, "--batch", "17"])


@pytest.fixture
def postgres() -> Iterator[Settings]:
    with fresh_postgres_database() as url:
        yield Settings(database_url=url)


@pytest.mark.postgres
def test_sqlite_to_postgres_and_back_keeps_events_history_and_views(
    tmp_path: Path, postgres: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both copies hold the source's rows exactly and rebuild the same derived rows; the final
    copy's export verifies with the source's key and a checkpoint remembered from the source."""
    source, back = sqlite(tmp_path / "a.db"), sqlite(tmp_path / "back.db")
    notes = build(source)
    assert len(notes) == 3
    before = store_state(source)
    assert copy(source, postgres, monkeypatch) == 0
    assert store_state(postgres) == before
    assert copy(postgres, back, monkeypatch) == 0
    assert store_state(back) == before
    remembered = tmp_path / "remembered.txt"
    remembered.write_text(notes[0])
    monkeypatch.setenv("VERDICT_DATABASE_URL", back.database_url)
    assert main(["export", str(tmp_path / "back.ndjson")]) == 0
    code, out = verify(
        "--export", str(tmp_path / "back.ndjson"),
        "--public-key", before["verifier_key"],
        "--known", str(remembered),
    )  # fmt: skip
    assert code == 0, out
    assert verdict_line(out).startswith(f"VERDICT: OK — {len(before['events'])} events")


@pytest.mark.postgres
def test_postgres_gaps_keep_their_positions_in_sqlite(
    tmp_path: Path, postgres: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Positions with holes (PostgreSQL's) come out the same in SQLite and again in another
    PostgreSQL database, leaf hashes too; the SQLite copy then numbers new events after the
    last copied one."""
    build(postgres, rounds=2)
    before = store_state(postgres)
    positions = [row[0] for row in before["events"]]
    assert positions != list(range(1, len(positions) + 1)), "the source must have gaps"
    target = sqlite(tmp_path / "b.db")
    assert copy(postgres, target, monkeypatch) == 0
    assert store_state(target) == before
    with fresh_postgres_database() as url:
        again = Settings(database_url=url)
        assert copy(target, again, monkeypatch) == 0
        assert store_state(again) == before
    ledger = Ledger(target)
    try:
        ledger.vote("smollm3", "voter:after-the-copy", "ship")
        assert ledger.recorder.max_notification_id() == positions[-1] + 1
    finally:
        ledger.close()


def test_a_resumed_copy_into_postgres_continues_the_sequence(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a copy the target's own writes take the next position, on either store."""
    source = sqlite(tmp_path / "a.db")
    build(source, rounds=1)
    assert copy(source, settings, monkeypatch) == 0
    last = store_state(source)["events"][-1][0]
    ledger = Ledger(settings)
    try:
        ledger.vote("smollm3", "voter:next", "skip")
        assert ledger.recorder.max_notification_id() == last + 1
    finally:
        ledger.close()


def refused(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("verdict copy: refused: "), err
    return err


def test_a_target_holding_another_log_is_refused_and_left_alone(
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another ledger in the target, or the copy with an event of its own after it: exit 2, one
    line, the target's events untouched."""
    source = sqlite(tmp_path / "a.db")
    build(source, rounds=1, votes=10)
    other = Ledger(settings)
    try:
        seed_demo(other)
    finally:
        other.close()
    held = events_of(settings)
    assert copy(source, settings, monkeypatch) == 2
    assert "not a prefix" in refused(capsys)
    assert events_of(settings) == held

    fresh = sqlite(tmp_path / "fresh.db")
    assert copy(source, fresh, monkeypatch) == 0
    capsys.readouterr()
    ledger = Ledger(fresh)
    try:
        ledger.vote("smollm3", "voter:only-in-the-copy", "ship")
    finally:
        ledger.close()
    assert copy(source, fresh, monkeypatch) == 2
    assert "events the source does not have" in refused(capsys)


def test_another_checkpoint_signing_key_or_origin_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy whose checkpoint was replaced since, or its signing key, and a run with another
    VERDICT_LOG_ORIGIN than the one the checkpoints name: refused, one line each."""
    source, target = sqlite(tmp_path / "a.db"), sqlite(tmp_path / "b.db")
    build(source, rounds=1, votes=5)
    assert copy(source, target, monkeypatch) == 0
    with closing(sqlite3.connect(tmp_path / "b.db")) as db, db:
        (size, root) = db.execute("SELECT size, root FROM audit_checkpoints").fetchone()
        db.execute("UPDATE audit_checkpoints SET root = ? WHERE size = ?", (b"y" * 32, size))
    capsys.readouterr()
    assert copy(source, target, monkeypatch) == 2
    assert f"checkpoint of size {size} signs another tree" in refused(capsys)
    with closing(sqlite3.connect(tmp_path / "b.db")) as db, db:
        db.execute("UPDATE audit_checkpoints SET root = ? WHERE size = ?", (root, size))
    with closing(sqlite3.connect(tmp_path / "b.db")) as db, db:
        db.execute("UPDATE ledger_secrets SET value = ? WHERE name = ?", (b"x" * 32, SIGNING))
    capsys.readouterr()
    assert copy(source, target, monkeypatch) == 2
    assert f"another secret {SIGNING!r}" in refused(capsys)
    monkeypatch.setenv("VERDICT_LOG_ORIGIN", "elsewhere.example/ledger")
    assert copy(source, sqlite(tmp_path / "c.db"), monkeypatch) == 2
    assert "VERDICT_LOG_ORIGIN" in refused(capsys)
    assert not events_of(sqlite(tmp_path / "c.db"))


def test_a_target_prefix_is_completed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy made while the source was still being written, run again later: it adds only
    what came since (the cut-over's second pass)."""
    source, target = sqlite(tmp_path / "a.db"), sqlite(tmp_path / "b.db")
    build(source, rounds=1, votes=10)
    assert copy(source, target, monkeypatch) == 0
    first = len(events_of(target))
    ledger = Ledger(source)
    try:
        for i in range(5):
            ledger.vote("smolvlm2-turbo", f"voter:late{i}", "ship")
    finally:
        ledger.close()
    capsys.readouterr()
    assert copy(source, target, monkeypatch) == 0
    assert f"copied 5 events ({first} were there already)" in capsys.readouterr().out
    assert events_of(target) == events_of(source)


def fill(settings: Settings, events: int) -> None:
    """The demo data and `events` first votes, saved many to a transaction (fast)."""
    ledger = Ledger(settings)
    try:
        seed_demo(ledger)
        for start in range(0, events, 1000):
            batch = [
                Ballot.cast(SLUGS[i % 3], f"voter:k{i}", "ship" if i % 4 else "skip")
                for i in range(start, min(events, start + 1000))
            ]
            ledger.save(*batch)
    finally:
        ledger.close()


def copy_process(source: Settings, to: Settings) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VERDICT_DATABASE_URL": source.database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "api.server.cli", "copy", "--to", to.database_url, "--batch", "100"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_a_copy_killed_at_random_moments_finishes_exactly(
    tmp_path: Path, settings: Settings
) -> None:
    """`kill -9` of a real `verdict copy` at random moments, every other one as soon as that
    run has written (mid-events, then), the others anywhere (start-up, events, rebuild); then a
    run to the end: the target holds the source's events, none twice, none missing, and its
    checkpoints match."""
    source = sqlite(tmp_path / "a.db")
    fill(source, 6_000)
    total = len(events_of(source))
    started = time.monotonic()
    whole = copy_process(source, sqlite(tmp_path / "timing.db"))
    assert whole.wait(timeout=120) == 0
    seconds = time.monotonic() - started
    rng = random.Random()
    watched = Ledger(settings)  # creates the empty event table: a prefix like any other
    try:
        held = RawEvents(watched.recorder)
        kills, mid_events = 0, 0
        for i in range(6):
            before = held.count()
            proc = copy_process(source, settings)
            if i % 2 == 0:
                while held.count() == before and proc.poll() is None:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0, 0.05))
            else:
                time.sleep(rng.uniform(0.2, seconds))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
            mid_events += before < held.count() < total
    finally:
        watched.close()
    assert kills, "no run was killed: the copy finished before every kill"
    assert mid_events, "no run was killed in the middle of the events"
    assert copy_process(source, settings).wait(timeout=120) == 0
    runtime, target = open_runtime(source), open_runtime(settings)
    try:
        ours, theirs = RawEvents(runtime.ledger.recorder), RawEvents(target.ledger.recorder)
        assert theirs.count() == ours.count()
        assert held_prefix(ours, theirs) == (
            runtime.ledger.recorder.max_notification_id(),
            ours.count(),
        )
        assert target.audit.size() == ours.count()
        assert target.audit.mismatched_checkpoints() == []
    finally:
        runtime.close()
        target.close()


def test_the_copy_benchmark_reports_both_phases(tmp_path: Path) -> None:
    """scripts/bench/copying.py on a small ledger: every event copied, both phases timed."""
    source = sqlite(tmp_path / "a.db")
    fill(source, 300)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench" / "copying.py"),
            source.database_url,
            f"sqlite:///{tmp_path}/b.db",
            "--batch",
            "100",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["events"] == len(events_of(source))
    assert result["events_per_second"] > 0
    assert result["rebuild_seconds"] > 0
    assert result["mismatched_checkpoints"] == []
