#!/usr/bin/env python3
"""`verdict rebuild` on a live service, under readers: how many reads were served, how many
failed (any answer but 200, or no answer), how many showed a log position lower than one the
same reader had already seen, and how long the rebuild took.

    python scripts/bench/live_rebuild.py --events 150000 [--store sqlite|postgres] [--readers 4]

Builds a ledger of the demo data plus EVENTS ballot events (big_ledger.fill), starts `verdict
serve` on it, lets reader threads ask for every tool in turn (`GET /v1/tools/{slug}`, and the
list now and then) while a voter writes a vote every few milliseconds, runs `verdict rebuild`,
and prints one JSON line. PostgreSQL uses a database created on VERDICT_TEST_POSTGRES_URL's
server and dropped afterwards. 127.0.0.1 only; every process started is stopped by its pid."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts" / "bench")]

import httpx  # noqa: E402 - after the path set-up above
import psycopg  # noqa: E402
from big_ledger import fill  # noqa: E402

from api.server.supervisor import stop  # noqa: E402
from domain.application import Ledger  # noqa: E402
from domain.demo_data import TOOLS  # noqa: E402
from domain.seeding import seed_demo  # noqa: E402
from domain.settings import Settings  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "VERDICT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
START_SECONDS = 120.0


@dataclass
class Readings:
    reads: int = 0
    errors: list[str] = field(default_factory=list)
    went_back: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Figures:
    store: str
    events: int
    reads: int
    errors: int
    went_back: int
    rebuild_seconds: float
    rebuild_exit: int
    votes_during: int
    examples: list[str]


@contextlib.contextmanager
def store(kind: str, folder: Path) -> Iterator[Settings]:
    """A fresh, empty store of `kind`, removed afterwards."""
    if kind == "sqlite":
        yield Settings(database_url=f"sqlite:///{folder / 'ledger.db'}")
        return
    name = f"verdict_live_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Settings(database_url=POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build(settings: Settings, events: int) -> int:
    """The demo data and `events` ballot events; the log's length."""
    ledger = Ledger(settings)
    try:
        seed_demo(ledger)
        fill(ledger, (ledger.recorder.max_notification_id() or 0) + events, random.Random(1))
        return ledger.recorder.max_notification_id() or 0
    finally:
        ledger.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def verdict(settings: Settings, *argv: str, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VERDICT_DATABASE_URL": settings.database_url}
    with out.open("a") as sink:
        return subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "api.server.cli", *argv],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


@contextlib.contextmanager
def serving(settings: Settings, log: Path) -> Iterator[str]:
    """`verdict serve` (one worker, projections in child processes), ready once its catalog
    has folded the whole log."""
    port = free_port()
    proc = verdict(settings, "serve", "--port", str(port), "--no-demo", out=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert proc.poll() is None, f"verdict serve exited: {log.read_text()}"
            with contextlib.suppress(httpx.TransportError):
                ready = httpx.get(f"{url}/readyz", timeout=5)
                if ready.status_code == 200 and all(
                    p["lag"] == 0 for p in ready.json()["projections"].values()
                ):
                    break
            assert time.monotonic() < deadline, f"not caught up in {START_SECONDS} s"
            time.sleep(0.2)
        yield url
    finally:
        stop(proc, 15)


def read_until(url: str, stop: threading.Event, readings: Readings, seed: int) -> None:
    """Every listed tool in turn until `stop`: each answer must be 200 and say a position no
    lower than the last this reader saw. (Only the one-tool read: it answers from the polled
    snapshot, which trails the tables the list reads by up to its 20 ms poll, so a reader
    mixing both could see the position step back without any rebuild.)"""
    with httpx.Client(base_url=url, timeout=10) as client:
        slugs = [t["slug"] for t in client.get("/v1/tools").json()["tools"]]
        random.Random(seed).shuffle(slugs)
        seen = 0
        while not stop.is_set():
            for slug in slugs:
                path = f"/v1/tools/{slug}"
                try:
                    answer = client.get(path)
                except httpx.TransportError as error:
                    readings.errors.append(f"{path}: {type(error).__name__}")
                    continue
                readings.reads += 1
                if answer.status_code != 200:
                    readings.errors.append(f"{path}: {answer.status_code}")
                    continue
                position = answer.json()["as_of"]["position"]
                if position < seen:
                    readings.went_back.append(f"{path}: {seen} -> {position}")
                seen = max(seen, position)


def vote_until(settings: Settings, stop: threading.Event) -> int:
    """A vote every few milliseconds, straight into the store (the service's followers fold
    them like any other); how many."""
    ledger = Ledger(settings)
    slugs = [t.slug for t in TOOLS]
    written = 0
    try:
        while not stop.wait(0.005):
            ledger.vote(slugs[written % len(slugs)], f"voter:live{written}", "ship")
            written += 1
    finally:
        ledger.close()
    return written


def measure(
    kind: str, events: int, folder: Path, readers: int = 4, keep: Path | None = None
) -> Figures:
    with store(kind, folder) as settings:
        size = build(settings, events)
        with serving(settings, folder / "serve.log") as url:
            stop = threading.Event()
            found = [Readings() for _ in range(readers)]
            threads = [
                threading.Thread(target=read_until, args=(url, stop, r, i))
                for i, r in enumerate(found)
            ]
            votes: list[int] = []
            voter = threading.Thread(target=lambda: votes.append(vote_until(settings, stop)))
            for thread in [*threads, voter]:
                thread.start()
            time.sleep(1.0)  # readers and votes under way before the rebuild starts
            started = time.monotonic()
            rebuild = verdict(settings, "rebuild", out=folder / "rebuild.log")
            code = rebuild.wait(timeout=600)
            seconds = time.monotonic() - started
            time.sleep(1.0)  # and a little after the switch
            stop.set()
            for thread in [*threads, voter]:
                thread.join(timeout=30)
        if keep is not None:
            for log in ("serve.log", "rebuild.log"):
                (keep / log).write_text((folder / log).read_text())
    errors = [e for r in found for e in r.errors]
    back = [e for r in found for e in r.went_back]
    return Figures(
        store=kind,
        events=size,
        reads=sum(r.reads for r in found),
        errors=len(errors),
        went_back=len(back),
        rebuild_seconds=round(seconds, 2),
        rebuild_exit=code,
        votes_during=votes[0] if votes else 0,
        examples=(errors + back)[:5],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--readers", type=int, default=4)
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    failed = False
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="verdict-live-rebuild-") as folder:
            figures = measure(kind, args.events, Path(folder), args.readers)
        print(json.dumps(asdict(figures)), flush=True)
        failed |= bool(figures.errors or figures.went_back or figures.rebuild_exit)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
