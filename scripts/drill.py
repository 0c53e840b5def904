#!/usr/bin/env python3
# ruff: noqa: E402, S603, S606, S607
# E402: the virtualenv check below must run before the third-party imports; S60x: the drill
# starts processes by design (our own `verdict` commands, pg_ctlcluster, pg_isready, itself).
"""Drills against real `verdict` processes on 127.0.0.1: crash, race, flood, bad input, a
rebuild killed midway and a full disk.

    python scripts/drill.py [--backend sqlite|postgres|both] [--scenario NAME ...]

Each scenario starts its own ledger (a fresh SQLite file in a temporary folder, or a PostgreSQL
database created for it on VERDICT_TEST_POSTGRES_URL's server and dropped afterwards), runs
`verdict migrate`, `verdict serve` (PostgreSQL: `--workers N` plus one `verdict project NAME` per
projection, as docs/deploy.md deploys them) and prints what it did and what it found:

- crash: votes flow from many client threads; `kill -9` an API worker, then a projection worker
  (restarted as a supervisor would), then PostgreSQL is restarted in immediate mode (SQLite: the
  single server process is killed and restarted, twice). Afterwards every vote that got a 2xx is
  in the log exactly once (its receipt's position and leaf hash match the stored event), every
  projection equals a rebuild, and the Merkle log verifies (scripts/verify.py, and
  `verdict rebuild`, which checks every signed checkpoint);
- race: 1,000 voters x 1 tool, and 1 voter x 200 parallel casts, across the workers: exact counts
  in the store and the views;
- flood: one voter and one address far above their rate limits get 429s while other voters'
  p99 stays under 100 ms;
- bad input: malformed JSON, huge bodies, wrong types, unicode edge cases, path traversal, SQL
  metacharacters, forged, revoked and non-ASCII credentials, odd numbers and times, text XML
  cannot carry, an unknown seat, oversized heads (whole or endless), a long compare path: every
  one answered 4xx, nothing written, the server still alive;
- rebuild kill: a ledger of 60k events whose catalog was built by an older fold version; the
  catalog's projection process, rebuilding it beside the serving views, is killed (-9) midway
  and restarted: it resumes the same generation from its tracked position and switches once,
  while readers of every tool get 200s whose position never goes back;
- disk full (SQLite): the ledger file on a small tmpfs, votes flowing, the disk filled: votes get
  503 problem+json (`storage-full`) with Retry-After, never a 500; the filler deleted, votes are
  stored again without a restart; nothing acknowledged is lost and the log verifies.

Bounded in time (a few minutes for both backends; `--max-seconds` aborts), 127.0.0.1 only; every
process it starts is stopped by its pid. Exit 0 when every scenario passed. tests/scripts runs the
same scenarios."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
if __name__ == "__main__" and Path(sys.prefix).resolve() != VENV.resolve():
    # `python scripts/drill.py` from a fresh clone: make the project's venv, then run in it.
    import subprocess

    if not (VENV / "bin" / "python").exists():
        subprocess.run(["bash", "-c", "source scripts/_venv.sh"], cwd=ROOT, check=True)
    os.execv(VENV / "bin" / "python", [str(VENV / "bin" / "python"), __file__, *sys.argv[1:]])
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))  # for verify.py, the independent reference

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import random
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx
import psycopg
import verify
from bench.big_ledger import fill
from bench.live_rebuild import Readings, read_until

from api.bootstrap import PROJECTIONS
from domain.application import Ledger
from domain.demo_data import TOOLS as DEMO_TOOLS
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.catalog.fold import CATALOG_VERSION
from projections.catalog.views import CATALOG, FOLDED_TABLES

HOST = "127.0.0.1"
ADMIN_URL = os.environ.get("VERDICT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
VERIFY = ROOT / "scripts" / "verify.py"
VERDICT = (sys.executable, "-m", "api.server.cli")
"""The `verdict` command, as the drill runs it (from the venv it runs in)."""
TOOLS = tuple(tool.slug for tool in DEMO_TOOLS)
DERIVED_TABLES = (*FOLDED_TABLES, "audit_leaf_chunks", "audit_nodes", "view_tracking")
NO_LIMITS = {
    "VERDICT_VOTES_PER_MINUTE": "10000000",
    "VERDICT_VOTER_REGISTRATIONS_PER_MINUTE": "10000000",
}
START_SECONDS = 120.0
"""How long a `verdict serve` start may take: ~4 s idle, ~25 s in a loaded suite run, and more
than 45 s beside other runs (a waiting loop: an early answer ends it)."""
P99_LIMIT_MS = 100.0


class DrillTimeout(Exception):
    """The whole run took longer than --max-seconds."""


def say(text: str) -> None:
    print(f"  {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank), in the samples' unit; 0 for none."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def p99(samples: Sequence[float]) -> float:
    return percentile(samples, 99)


def spread(samples: Sequence[float]) -> str:
    """`n votes, p50 / p90 / p99 / max` in ms."""
    qs = " / ".join(f"{percentile(samples, q):.0f}" for q in (50, 90, 99, 100))
    return f"{len(samples)} votes, p50 / p90 / p99 / max {qs} ms"


# -- stores ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    """One ledger database: a SQLite file, or a PostgreSQL database."""

    backend: str
    url: str

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgres"

    @classmethod
    @contextlib.contextmanager
    def fresh(cls, backend: str, workdir: Path) -> Iterator[Store]:
        """A new, empty store, removed afterwards."""
        if backend == "sqlite":
            yield cls("sqlite", f"sqlite:///{workdir}/ledger.db")
            return
        name = f"verdict_drill_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield cls("postgres", ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
        finally:
            drop_database(name)

    def settings(self) -> Settings:
        return Settings(database_url=self.url, create_tables=False, pool_size=1)

    def events(self) -> list[Any]:
        """Every stored event (eventsourcing notifications), in log order."""
        ledger = Ledger(self.settings())
        try:
            found: list[Any] = []
            while page := ledger.recorder.select_notifications(
                (found[-1].id if found else 0) + 1, 10_000
            ):
                found += page
            return found
        finally:
            ledger.close()

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of a table, sorted, bytes as bytes: for comparing two states."""
        if self.is_postgres:
            with psycopg.connect(self.url, connect_timeout=5) as conn:
                raw = conn.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - our table names
        else:
            with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as db:
                raw = db.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - our table names
        return sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in raw)


def drop_database(name: str) -> None:
    for _ in range(20):
        try:
            with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError:
            time.sleep(0.5)  # the server may still be restarting


def restart_postgres() -> float:
    """Restart the local cluster in immediate mode (a crash: recovery from the WAL on start);
    returns the seconds until it accepted connections again."""
    versions = sorted(os.listdir("/etc/postgresql"))
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart", "-m", "i"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    while subprocess.run(["pg_isready", "-q", "-h", HOST], check=False).returncode != 0:
        if time.monotonic() - started > 60:
            raise RuntimeError("PostgreSQL did not come back within 60 s")
        time.sleep(0.1)
    return time.monotonic() - started


# -- the processes under test ---------------------------------------------------------------


class Cluster:
    """`verdict serve` on one store, and on PostgreSQL one `verdict project` per projection."""

    def __init__(
        self, store: Store, workdir: Path, *, workers: int, env: dict[str, str] | None = None
    ) -> None:
        self.store = store
        self.workdir = workdir
        self.workers = workers
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = {
            **os.environ,
            "VERDICT_DATABASE_URL": store.url,
            "VERDICT_CREATE_TABLES": "false",
            "VERDICT_POOL_SIZE": "3",
            "VERDICT_POOL_MAX_OVERFLOW": "3",
            **(env or {}),
        }
        self.env.pop("VERDICT_PROJECTIONS", None)
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.server: subprocess.Popen[bytes] | None = None
        self.projectors: dict[str, subprocess.Popen[bytes]] = {}
        self.editor_key = ""
        self._logs: list[TextIO] = []

    # -- start and stop -------------------------------------------------------------------

    def verdict(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `verdict ARGS` to its end; what it printed is in the result."""
        return subprocess.run(
            VERDICT + args, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start `verdict ARGS`: what it prints goes to NAME.out, its (JSON) logs to NAME.log."""
        out = (self.workdir / f"{name}.out").open("a")
        log = (self.workdir / f"{name}.log").open("a")
        self._logs += [out, log]
        return subprocess.Popen(VERDICT + args, cwd=ROOT, env=self.env, stdout=out, stderr=log)

    def start(self) -> Cluster:
        migrated = self.verdict("migrate")
        if migrated.returncode != 0:
            raise RuntimeError(f"verdict migrate failed: {migrated.stderr[-2000:]}")
        self.start_server()
        if self.store.is_postgres:
            for name in PROJECTIONS:
                self.start_projector(name)
        self.wait_caught_up()
        return self

    def start_server(self) -> None:
        self.server = self._spawn(
            "serve", "serve", "--port", str(self.port), "--workers", str(self.workers)
        )
        deadline = time.monotonic() + START_SECONDS
        while not self._answers():
            if self.server.poll() is not None:
                raise RuntimeError(f"verdict serve exited: {self.log('serve')[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"verdict serve did not answer in {START_SECONDS} s")
            time.sleep(0.1)
        if not self.editor_key:
            match = re.search(r"^(vle_\S+)$", self.log("serve", "out"), re.MULTILINE)
            if match is None:
                raise RuntimeError("verdict serve printed no editor key on first start")
            self.editor_key = match[1]
        if self.workers > 1:  # every worker up, so that a kill hits a serving one
            while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
                time.sleep(0.1)

    def start_projector(self, name: str) -> None:
        self.projectors[name] = self._spawn(f"project-{name}", "project", name)

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def log(self, name: str, suffix: str = "log") -> str:
        path = self.workdir / f"{name}.{suffix}"
        return path.read_text(errors="replace") if path.exists() else ""

    def worker_pids(self) -> list[int]:
        """The API worker processes: uvicorn's children (spawned), or the server itself."""
        assert self.server is not None
        if self.workers == 1:
            return [self.server.pid]
        pids: list[int] = []
        for task in Path(f"/proc/{self.server.pid}/task").glob("*/children"):
            for pid in task.read_text().split():
                with contextlib.suppress(FileNotFoundError):  # a child that just exited
                    if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        pids.append(int(pid))
        return sorted(pids)

    def stop(self) -> dict[str, int | None]:
        """SIGTERM every process (by pid) and wait; their exit codes (None: had to be killed)."""
        codes: dict[str, int | None] = {}
        procs = dict(self.projectors)
        if self.server is not None:
            procs["serve"] = self.server
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            try:
                codes[name] = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                codes[name] = None
        for log in self._logs:
            log.close()
        self._logs.clear()
        return codes

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:  # a start that failed midway leaves no process behind
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- state ----------------------------------------------------------------------------

    def readiness(self) -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = httpx.get(f"{self.url}/readyz", timeout=5).json()
            return body
        except (httpx.TransportError, ValueError):
            return None

    def wait_caught_up(self, timeout: float = 60) -> float:
        """Wait until every projection has reached the end of the log; the seconds it took."""
        started = time.monotonic()
        while True:
            ready = self.readiness()
            if ready and ready.get("database") == "ok":
                lags = [p["lag"] for p in ready["projections"].values()]
                if all(lag == 0 for lag in lags):
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"projections not caught up in {timeout} s: {ready}")
            time.sleep(0.1)

    def log_position(self) -> int:
        ready = self.readiness()
        assert ready is not None
        assert ready["database"] == "ok", ready
        return int(ready["log_position"])

    def tool(self, slug: str, min_position: int = 0) -> dict[str, Any]:
        params = {"min_position": min_position} if min_position else {}
        body: dict[str, Any] = httpx.get(
            f"{self.url}/v1/tools/{slug}", params=params, timeout=10
        ).json()
        return body

    def register(self, client: httpx.Client, address: str | None = None) -> str:
        headers = {"X-Forwarded-For": address} if address else {}
        response = client.post("/v1/voters", headers=headers)
        response.raise_for_status()
        token: str = response.json()["token"]
        return token

    def registered(self, n: int, threads: int = 16) -> list[str]:
        """`n` fresh voter tokens, registered in parallel."""
        return list(_threads(n, lambda client, _: self.register(client), self.url, threads))


# -- checks shared by the scenarios ---------------------------------------------------------


def leaf_hash(notification: Any) -> str:
    """The event's leaf hash in the Merkle log, base64, by scripts/verify.py's definition of
    docs/audit.md (the independent reference), not the service's own code."""
    event = {
        "originator_id": str(notification.originator_id),
        "originator_version": notification.originator_version,
        "position": notification.id,
        "state": json.loads(notification.state),
        "topic": notification.topic,
    }
    return base64.b64encode(verify.leaf_hash(verify.canonical_json(event))).decode()


def kind(notification: Any) -> str:
    topic: str = notification.topic
    return topic.rpartition(":")[2]


@dataclass
class Outcome:
    """What a scenario found: `ok`, the figures for the summary, and every failed check."""

    scenario: str
    backend: str
    facts: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self, condition: bool, what: str) -> bool:
        say(("ok    " if condition else "FAIL  ") + what)
        if not condition:
            self.failures.append(what)
        return condition


def rebuild_equals_live(cluster: Cluster, outcome: Outcome) -> None:
    """With every process stopped: snapshot the views, `verdict rebuild` (which also checks
    every signed checkpoint against the recomputed tree), snapshot again, compare."""
    live = {t: cluster.store.rows(t) for t in DERIVED_TABLES}
    rebuilt = cluster.verdict("rebuild", timeout=300)
    outcome.check(
        rebuilt.returncode == 0,
        f"`verdict rebuild` exit {rebuilt.returncode}: every signed checkpoint matches the tree",
    )
    differing = [t for t in DERIVED_TABLES if cluster.store.rows(t) != live[t]]
    rows = sum(len(r) for r in live.values())
    outcome.check(
        not differing,
        f"every projection equals its rebuild ({rows} rows, {len(live)} tables) {differing}",
    )


def verify_log(cluster: Cluster, outcome: Outcome) -> None:
    """scripts/verify.py against the running service: signatures, leaves, proofs, figures."""
    if not VERIFY.exists():
        say("scripts/verify.py is absent: the rebuild's checkpoint check stands alone")
        return
    # every drill is a new cluster of the same origin: remembering one would call the next a fork
    done = subprocess.run(
        [sys.executable, str(VERIFY), cluster.url, "--no-state"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    outcome.check(done.returncode == 0, f"scripts/verify.py: {last}")


# -- crash ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    voter: str
    slug: str
    outcome: str
    position: int | None
    leaf_hash: str | None


class VoteLoad:
    """Client threads voting until stopped: each registers a voter, votes on random tools and
    keeps every 2xx receipt; errors and refusals are counted, and the vote retried."""

    def __init__(self, url: str, threads: int) -> None:
        self.url = url
        self.threads = threads
        self.acks: list[Ack] = []
        self.errors: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.threads):
            t = threading.Thread(target=self._run, args=(n,), name=f"voter-{n}", daemon=True)
            t.start()
            self._pool.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._pool:
            t.join(30)

    def _count(self, what: str) -> None:
        with self._lock:
            self.errors[what] += 1
        time.sleep(0.05)

    def _run(self, n: int) -> None:
        rng = random.Random(n)
        token = ""
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    if not token or rng.random() < 0.05:
                        registered = client.post("/v1/voters")
                        if registered.status_code != 201:
                            self._count(str(registered.status_code))
                            continue
                        token = registered.json()["token"]
                    slug = rng.choice(TOOLS)
                    choice = rng.choice(("ship", "skip"))
                    answer = client.put(
                        f"/v1/tools/{slug}/vote", json={"choice": choice}, headers=bearer(token)
                    )
                except httpx.TransportError as error:
                    self._count(type(error).__name__)
                    continue
                if answer.status_code not in (200, 201):
                    self._count(str(answer.status_code))
                    continue
                body = answer.json()
                receipt = body["receipt"]
                ack = Ack(
                    body["voter_id"],
                    slug,
                    body["outcome"],
                    receipt["position"],
                    receipt["leaf_hash"],
                )
                with self._lock:
                    self.acks.append(ack)


def check_acks(store: Store, acks: list[Ack], outcome: Outcome) -> None:
    """Every acknowledged vote is in the log exactly once: its receipt names a distinct stored
    event whose leaf hash, tool and voter are the receipt's; no ballot was created twice."""
    events = store.events()
    by_position = {n.id: n for n in events}
    written = [a for a in acks if a.position is not None]
    positions = Counter(a.position for a in written)
    found = [
        a
        for a in written
        if (n := by_position.get(a.position)) is not None
        and leaf_hash(n) == a.leaf_hash
        and kind(n).startswith("Ballot.")
        and json.loads(n.state)["tool"] == a.slug
        and json.loads(n.state)["actor"] == f"voter:{a.voter}"
    ]
    casts = Counter(
        (json.loads(n.state)["tool"], json.loads(n.state)["actor"])
        for n in events
        if kind(n) == "Ballot.Cast"
    )
    unchanged = len(acks) - len(written)
    outcome.facts.update(acknowledged=len(written), found=len(found), unchanged=unchanged)
    say(f"{len(acks)} votes acknowledged: {len(written)} wrote an event, {unchanged} unchanged")
    outcome.check(
        len(found) == len(written), f"{len(found)}/{len(written)} receipts found in the store"
    )
    outcome.check(all(c == 1 for c in positions.values()), "no two receipts name one event")
    outcome.check(all(c == 1 for c in casts.values()), f"{len(casts)} ballots, each cast once")
    # A request the client gave up on (a timeout across the database restart) may still be
    # stored after `events` was read: leaves past the last event read are not judged here.
    last = events[-1].id if events else 0
    chunks = store.rows("audit_leaf_chunks")  # (chunk, first_position, positions, hashes)
    logged = [p for r in chunks for p in struct.unpack(f"<{len(r[2]) // 8}q", r[2])]
    outcome.check(
        [p for p in logged if p <= last] == [n.id for n in events],
        f"the log has each of the {len(events)} events exactly once, in order",
    )


def crash(
    store: Store,
    workdir: Path,
    *,
    workers: int = 3,
    threads: int = 12,
    acks_between: int | None = None,
) -> Outcome:
    """Votes flowing; kill -9 an API worker, then a projection worker, then restart PostgreSQL
    (SQLite: kill -9 the one server process, twice); then check that nothing was lost. Between
    two blows the votes flow for a few seconds, or, given `acks_between`, until that many more
    were acknowledged (the tests: a count, not a time, is what a loaded machine cannot shrink)."""
    outcome = Outcome("crash", store.backend)
    workers = workers if store.is_postgres else 1
    cluster = Cluster(store, workdir, workers=workers, env=NO_LIMITS)
    with cluster:
        load = VoteLoad(cluster.url, threads)
        say(f"{threads} client threads voting against {workers} API worker(s)")

        def flowing(seconds: float) -> None:
            if acks_between is None:
                time.sleep(seconds)
                return
            enough = len(load.acks) + acks_between
            deadline = time.monotonic() + START_SECONDS
            while len(load.acks) < enough and time.monotonic() < deadline:
                time.sleep(0.05)

        load.start()
        try:
            flowing(3)
            victim = random.choice(cluster.worker_pids())
            os.kill(victim, signal.SIGKILL)
            if store.is_postgres:
                say(f"kill -9 API worker {victim}; uvicorn replaces it")
                deadline = time.monotonic() + START_SECONDS
                while len(set(cluster.worker_pids()) - {victim}) < workers:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                replaced = set(cluster.worker_pids()) - {victim}
                outcome.check(len(replaced) == workers, f"{workers} workers again: {replaced}")
            else:
                assert cluster.server is not None
                cluster.server.wait(10)
                cluster.start_server()
                say(f"kill -9 the server {victim}; restarted it (as a supervisor would)")
            flowing(3)
            if store.is_postgres:
                victim = cluster.projectors["audit"].pid
                os.kill(victim, signal.SIGKILL)
                cluster.projectors["audit"].wait(10)
                time.sleep(0.5)
                cluster.start_projector("audit")
                say(f"kill -9 projection worker `audit` ({victim}); restarted it")
                flowing(3)
                took = restart_postgres()
                say(f"restarted PostgreSQL in immediate mode: accepting again after {took:.1f} s")
            else:
                assert cluster.server is not None
                victim = cluster.server.pid
                os.kill(victim, signal.SIGKILL)
                cluster.server.wait(10)
                cluster.start_server()
                say(
                    f"kill -9 the server {victim} again (its projections die with it); restarted it"
                )
            after_last = len(load.acks)
            flowing(4)
        finally:
            load.stop()
        outcome.check(len(load.acks) > after_last, "votes are acknowledged again afterwards")
        say(f"stopped the clients; errors and refusals seen meanwhile: {dict(load.errors)}")
        outcome.facts["errors"] = sum(load.errors.values())
        took = cluster.wait_caught_up()
        say(f"every projection caught up {took:.1f} s after the last vote")
        if store.is_postgres:
            alive = all(p.poll() is None for p in cluster.projectors.values())
            outcome.check(alive, "the projection workers survived the database restart")
        check_acks(store, load.acks, outcome)
        verify_log(cluster, outcome)
        codes = cluster.stop()
        # uvicorn re-raises SIGTERM once it has shut down cleanly, so a lone server "dies" of it
        clean = all(code == 0 or (n == "serve" and code == -15) for n, code in codes.items())
        outcome.check(clean, f"SIGTERM: every process shuts down cleanly {codes}")
    rebuild_equals_live(cluster, outcome)
    return outcome


# -- race -----------------------------------------------------------------------------------


def race(store: Store, workdir: Path, *, workers: int = 4, voters: int = 1000) -> Outcome:
    """1,000 voters x 1 tool, and 1 voter x 200 parallel casts, across the workers."""
    outcome = Outcome("race", store.backend)
    with Cluster(store, workdir, workers=workers, env=NO_LIMITS) as cluster:
        race_many_voters(cluster, outcome, voters)
        race_one_voter(cluster, outcome, 200)
    return outcome


def _threads(n: int, fn: Callable[[httpx.Client, int], Any], url: str, threads: int) -> list[Any]:
    """fn(client, i) for i in range(n), from `threads` threads with a client each, started
    together so that the calls really overlap."""
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(threads)]
    start = threading.Barrier(threads)
    results: list[Any] = [None] * n

    def worker(k: int) -> None:
        start.wait()
        for i in range(k, n, threads):
            results[i] = fn(clients[k], i)

    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(worker, range(threads)))
    finally:
        for c in clients:
            c.close()
    return results


def race_many_voters(cluster: Cluster, outcome: Outcome, voters: int) -> None:
    slug = "smollm3"
    before = cluster.tool(slug)["community"]
    tokens = cluster.registered(voters)
    choices = ["skip" if i % 3 == 0 else "ship" for i in range(voters)]

    def cast(client: httpx.Client, i: int) -> httpx.Response:
        path = f"/v1/tools/{slug}/vote"
        return client.put(path, json={"choice": choices[i]}, headers=bearer(tokens[i]))

    started = time.monotonic()
    answers = _threads(voters, cast, cluster.url, 32)
    took = time.monotonic() - started
    statuses = Counter(r.status_code for r in answers)
    say(
        f"{voters} voters cast one vote each on {slug}, 32 at a time, in {took:.1f}s: "
        f"{dict(statuses)}"
    )
    outcome.check(statuses == {201: voters}, f"all {voters} casts answered 201")
    last = max(r.json()["receipt"]["position"] for r in answers if r.status_code == 201)
    after = cluster.tool(slug, last)["community"]
    ships = choices.count("ship")
    expected = (before["ship"] + ships, before["skip"] + voters - ships)
    outcome.check(
        (after["ship"], after["skip"]) == expected,
        f"the view counts exactly {ships} more ship and {voters - ships} more skip: {after}",
    )
    ids = {r.json()["voter_id"] for r in answers if r.status_code == 201}
    casts = [
        n
        for n in cluster.store.events()
        if kind(n) == "Ballot.Cast" and json.loads(n.state)["actor"].removeprefix("voter:") in ids
    ]
    outcome.check(len(casts) == voters, f"the store holds exactly {len(casts)} casts of them")
    outcome.facts["race_voters"] = voters


def race_one_voter(cluster: Cluster, outcome: Outcome, casts: int) -> None:
    slug = "smolvlm2-turbo"
    before = cluster.tool(slug)["community"]
    token = cluster.registered(1)[0]

    def cast(client: httpx.Client, i: int) -> httpx.Response:
        choice = "ship" if i % 2 else "skip"
        return client.put(f"/v1/tools/{slug}/vote", json={"choice": choice}, headers=bearer(token))

    started = time.monotonic()
    answers = _threads(casts, cast, cluster.url, 32)
    took = time.monotonic() - started
    statuses = Counter(r.status_code for r in answers)
    outcomes = Counter(r.json().get("outcome", r.json().get("type")) for r in answers)
    say(f"1 voter cast {casts} votes on {slug}, 32 at a time, in {took:.1f}s: {dict(outcomes)}")
    outcome.check(statuses[201] == 1, f"exactly one 201 (the cast): {dict(statuses)}")
    outcome.check(set(statuses) <= {200, 201}, "every other answer is 200 (changed or unchanged)")
    voter = answers[0].json()["voter_id"]
    mine = [
        n
        for n in cluster.store.events()
        if kind(n).startswith("Ballot.") and json.loads(n.state)["actor"] == f"voter:{voter}"
    ]
    kinds = Counter(kind(n) for n in mine)
    outcome.check(
        kinds == {"Ballot.Cast": 1, "Ballot.Changed": outcomes["changed"]},
        f"the store holds 1 cast and {outcomes['changed']} changes, as answered: {dict(kinds)}",
    )
    versions = [n.originator_version for n in mine]
    outcome.check(versions == list(range(1, len(mine) + 1)), "ballot versions are 1..n, no gap")
    final = json.loads(mine[-1].state)["choice"]
    after = cluster.tool(slug, mine[-1].id)["community"]
    expected = {**before, "total": before["total"] + 1, final: before[final] + 1}
    outcome.check(
        {k: after[k] for k in ("ship", "skip", "total")}
        == {k: expected[k] for k in ("ship", "skip", "total")},
        f"the view counts one more vote, for {final!r}, the last one stored: {after}",
    )


# -- flood ----------------------------------------------------------------------------------


def flood_main(argv: Sequence[str]) -> int:
    """`drill.py _flood URL KIND TOKEN RATE SECONDS START`: a paced flood over 8 connections
    from its own process (its threads must not slow the drill's measurements), from wall-clock
    time START on (its own start-up must not either); prints the statuses it got as JSON."""
    url, what, token, rate, seconds, start = argv
    connections = 8
    per_thread = float(rate) / int(connections)
    time.sleep(max(0.0, float(start) - time.time()))
    deadline = time.monotonic() + float(seconds)
    statuses: Counter[str] = Counter()
    lock = threading.Lock()

    host, _, port = url.removeprefix("http://").partition(":")
    if what == "voter":
        method, path = "PUT", "/v1/tools/smollm3/vote"
        headers = {**bearer(token), "Content-Type": "application/json"}
    else:
        method, path = "POST", "/v1/voters"
        headers = {"X-Forwarded-For": "203.0.113.9", "Content-Length": "0"}

    def run(k: int) -> None:
        # http.client, not httpx: a third of the client's CPU per request, on a shared machine
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        next_at = time.monotonic() + k / float(rate)
        while (now := time.monotonic()) < deadline:
            if next_at > now:
                time.sleep(next_at - now)
            next_at += 1 / per_thread
            body = (
                b'{"choice":"%s"}' % random.choice((b"ship", b"skip")) if what == "voter" else None
            )
            try:
                conn.request(method, path, body=body, headers=headers)
                answer = conn.getresponse()
                answer.read()
                code = str(answer.status)
            except (OSError, http.client.HTTPException) as error:
                code = type(error).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            with lock:
                statuses[code] += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(int(connections))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(statuses))
    return 0


def steady_voters(
    cluster: Cluster, tokens: list[str], seconds: float
) -> tuple[list[float], Counter[int]]:
    """Each token votes about once a second (inside its limit), from its own address; the
    latencies (ms) and statuses seen."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(k: int) -> None:
        rng = random.Random(k)
        headers = {**bearer(tokens[k]), "X-Forwarded-For": f"198.51.100.{k + 1}"}
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            time.sleep(rng.random())
            while time.monotonic() < deadline:
                body = {"choice": rng.choice(("ship", "skip"))}
                started = time.perf_counter()
                r = client.put(
                    f"/v1/tools/{TOOLS[k % len(TOOLS)]}/vote", json=body, headers=headers
                )
                took = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(took)
                    statuses[r.status_code] += 1
                time.sleep(0.8 + 0.4 * rng.random())

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses


VOTES_PER_MINUTE, REGISTRATIONS_PER_MINUTE = 120, 30


def flood(
    store: Store,
    workdir: Path,
    *,
    workers: int = min(4, os.cpu_count() or 1),
    rate: int = 200,
    seconds: float = 10,
    voters: int = 20,
) -> Outcome:
    """One voter and one address sending far above their limits while `voters` others vote
    about once a second each: the floods get 429s, the others none, and their p99 stays under
    100 ms."""
    outcome = Outcome("flood", store.backend)
    workers = workers if store.is_postgres else 1
    limits = {
        "VERDICT_VOTES_PER_MINUTE": str(VOTES_PER_MINUTE),
        "VERDICT_VOTER_REGISTRATIONS_PER_MINUTE": str(REGISTRATIONS_PER_MINUTE),
        # The drill's clients play a proxy's clients: each sends its own X-Forwarded-For.
        "VERDICT_TRUSTED_PROXIES": '["127.0.0.1"]',
    }
    floods = (("voter", rate, VOTES_PER_MINUTE // 5), ("address", rate // 3, 30))
    with Cluster(store, workdir, workers=workers, env=limits) as cluster:
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            tokens = [cluster.register(client, f"198.51.100.{k + 1}") for k in range(voters)]
            flooder = cluster.register(client, "192.0.2.1")
        say(f"limits per worker ({workers}): {VOTES_PER_MINUTE} votes/min per voter (burst 24),")
        say(f"{REGISTRATIONS_PER_MINUTE} registrations/min per address; {voters} steady voters")
        steady_voters(cluster, tokens, 1.5)  # warm-up: connections, pools, first casts
        base, base_statuses = steady_voters(cluster, tokens, 5)
        say(f"baseline: {spread(base)}, {dict(base_statuses)}")
        start = time.time() + 4  # after the flood processes' own start-up
        started = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "_flood",
                    cluster.url,
                    what,
                    flooder,
                    *map(str, (r, seconds, start)),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for what, r, _ in floods
        ]
        try:
            time.sleep(start + 0.5 - time.time())
            under, statuses = steady_voters(cluster, tokens, seconds - 1.5)
        finally:
            results = [json.loads(f.communicate(timeout=seconds + 60)[0]) for f in started]
        for (what, r, burst), got in zip(floods, results, strict=True):
            sent = sum(got.values())
            refused = got.get("429", 0)
            per_minute = VOTES_PER_MINUTE if what == "voter" else REGISTRATIONS_PER_MINUTE
            budget = workers * (burst + per_minute / 60 * seconds)
            say(f"one {what} flooding at {r}/s for {seconds:.0f}s: {sent} sent, {dict(got)}")
            outcome.check(
                refused > 0 and sent - refused <= budget,
                f"the {what} got 429s: {sent - refused} admitted, within {workers} workers' "
                f"buckets ({budget:.0f})",
            )
            outcome.facts[f"refused_{what}"] = refused
            outcome.facts[f"sent_{what}"] = sent
        worst = p99(under)
        say(f"steady voters under flood: {spread(under)}, {dict(statuses)}")
        outcome.check(set(statuses) <= {200, 201}, "no steady voter was refused")
        outcome.check(worst < P99_LIMIT_MS, f"their p99 {worst:.1f} ms < {P99_LIMIT_MS:.0f} ms")
        outcome.facts.update(p99_ms=round(worst, 1), p99_baseline_ms=round(p99(base), 1))
        outcome.check(cluster._answers(), "the server is alive")
    return outcome


# -- bad input ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    name: str
    method: str
    path: str
    body: bytes | None = None
    auth: str = "voter"  # voter | editor | revoked | none | a literal Authorization value
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)


def bad_requests() -> dict[str, list[Bad]]:
    """Hostile requests, by kind."""
    vote = "/v1/tools/smollm3/vote"
    tool = json.dumps(
        {
            "slug": "new-tool",
            "name": "N",
            "category": "C",
            "tagline": "T",
            "description": "D",
            "pricing": "Free",
        }
    )
    deep = b"[" * 5000 + b"]" * 5000
    return {
        "malformed JSON": [
            Bad("truncated JSON", "PUT", vote, b'{"choice": "ship"'),
            Bad("not JSON at all", "PUT", vote, b"choice=ship"),
            Bad("invalid UTF-8 in JSON", "PUT", vote, b'{"choice": "\xff\xfe"}'),
            Bad("5,000-deep nesting", "PUT", vote, deep),
            Bad("NaN", "PUT", vote, b'{"choice": NaN}'),
            Bad("empty body", "PUT", vote, b""),
        ],
        "huge bodies": [
            Bad(
                "1 MiB body with Content-Length", "PUT", vote, b'{"choice":"' + b"s" * 2**20 + b'"}'
            ),
            Bad("1 MiB listing", "POST", "/v1/tools", b" " * 2**20 + tool.encode(), "editor"),
        ],
        "wrong types": [
            Bad("choice is a number", "PUT", vote, b'{"choice": 1}'),
            Bad("choice is null", "PUT", vote, b'{"choice": null}'),
            Bad("choice is a list", "PUT", vote, b'{"choice": ["ship"]}'),
            Bad("body is a list", "PUT", vote, b'["ship"]'),
            Bad("body is a string", "PUT", vote, b'"ship"'),
            Bad("huge integer", "PUT", vote, b'{"choice": ' + b"9" * 5000 + b"}"),
            Bad("extra field (voter id)", "PUT", vote, b'{"choice": "ship", "voter": "v_x"}'),
            Bad(
                "listing with numbers",
                "POST",
                "/v1/tools",
                tool.replace('"N"', "7").encode(),
                "editor",
            ),
            Bad("min_position negative", "GET", "/v1/tools?min_position=-1", None, "none"),
            Bad("as_of beyond 64 bits", "GET", "/v1/tools/smollm3?as_of=" + "9" * 30, None, "none"),
        ],
        "unicode edge cases": [
            Bad("choice with zero-width space", "PUT", vote, '{"choice": "ship\u200b"}'.encode()),
            Bad("choice with a lone surrogate", "PUT", vote, b'{"choice": "\\ud800"}'),
            Bad("choice with NUL", "PUT", vote, b'{"choice": "ship\\u0000"}'),
            Bad("choice in long s", "PUT", vote, '{"choice": "\u017fhip"}'.encode()),
            Bad("fullwidth slug", "PUT", "/v1/tools/%EF%BD%93mollm3/vote", b'{"choice":"ship"}'),
            Bad(
                "decomposed accent slug",
                "PUT",
                "/v1/tools/smo%CC%88llm3/vote",
                b'{"choice":"ship"}',
            ),
            Bad("emoji slug", "PUT", "/v1/tools/%F0%9F%92%A9/vote", b'{"choice":"ship"}'),
            Bad(
                "RTL override in slug",
                "PUT",
                "/v1/tools/%E2%80%AEsmollm3/vote",
                b'{"choice":"ship"}',
            ),
            Bad("upper-case slug", "PUT", "/v1/tools/SMOLLM3/vote", b'{"choice":"ship"}'),
            Bad(
                "listing slug with accent",
                "POST",
                "/v1/tools",
                tool.replace("new-tool", "caf\u00e9").encode(),
                "editor",
            ),
        ],
        "path traversal": [
            Bad(
                "../ in a slug",
                "PUT",
                "/v1/tools/..%2F..%2Fetc%2Fpasswd/vote",
                b'{"choice":"ship"}',
            ),
            Bad("dot-dot slug", "PUT", "/v1/tools/%2e%2e/vote", b'{"choice":"ship"}'),
            Bad("static traversal", "GET", "/static/..%2F..%2Fpyproject.toml", None, "none"),
            Bad("double-encoded traversal", "GET", "/v1/tools/%252e%252e%252fetc", None, "none"),
            Bad(
                "seat traversal",
                "PUT",
                "/v1/tools/smollm3/verdicts/..%2Fbuilder",
                b'{"reviewer":"R","decision":"ship","text":"t"}',
                "editor",
            ),
        ],
        "SQL metacharacters": [
            Bad("quote in slug", "PUT", "/v1/tools/x'%20OR%20'1'='1/vote", b'{"choice":"ship"}'),
            Bad(
                "statement in slug",
                "PUT",
                "/v1/tools/smollm3;DROP%20TABLE%20view_tools/vote",
                b'{"choice":"ship"}',
            ),
            Bad("statement in choice", "PUT", vote, b'{"choice": "ship\'); DROP TABLE x;--"}'),
            Bad("statement in min_position", "GET", "/v1/tools?min_position=1;DROP", None, "none"),
            Bad(
                "quote in editor key", "POST", "/v1/tools", tool.encode(), "Bearer vle_' OR '1'='1"
            ),
            Bad(
                "quote in voter token",
                "PUT",
                vote,
                b'{"choice":"ship"}',
                "Bearer v_x' OR 1=1--.abc",
            ),
        ],
        "forged, foreign and revoked credentials": [
            Bad("no credential", "PUT", vote, b'{"choice":"ship"}', "none"),
            Bad("forged editor key", "POST", "/v1/tools", tool.encode(), "Bearer vle_" + "A" * 43),
            Bad("forged voter token", "PUT", vote, b'{"choice":"ship"}', "Bearer v_abc.forgedmac"),
            Bad("voter id with another ledger's mac", "PUT", vote, b'{"choice":"ship"}', "foreign"),
            Bad("revoked editor key", "POST", "/v1/tools", tool.encode(), "revoked"),
            Bad("voter token on an editor route", "POST", "/v1/tools", tool.encode(), "voter"),
            Bad("Basic instead of Bearer", "PUT", vote, b'{"choice":"ship"}', "Basic dXNlcjpwYXNz"),
            Bad("8 KiB token", "PUT", vote, b'{"choice":"ship"}', "Bearer v_" + "a" * 8192 + ".b"),
        ],
        "non-ASCII credentials": [
            Bad("non-ASCII voter mac", "PUT", vote, b'{"choice":"ship"}', "Bearer v_x.\u00e9"),
            Bad("non-ASCII voter id", "PUT", vote, b'{"choice":"ship"}', "Bearer v_\u00e9.abc"),
            Bad("snowman token", "DELETE", vote, None, "Bearer v_x.\u2603"),
            Bad("non-ASCII editor key", "POST", "/v1/tools", tool.encode(), "Bearer vle_\u00e9"),
        ],
        "odd numbers and times": [
            Bad("superscript min_position", "GET", "/v1/tools?min_position=\u00b2", None, "none"),
            Bad("Arabic-Indic as_of", "GET", "/v1/tools/smollm3?as_of=\u0663", None, "none"),
            Bad("5,000-digit after", "GET", "/v1/audit/events?after=" + "9" * 5000, None, "none"),
            Bad(
                "time past year 9999 in UTC",
                "GET",
                "/v1/tools/smollm3?at=9999-12-31T23:59:59-00:01",
                None,
                "none",
            ),
            Bad(
                "time before year 1 in UTC",
                "GET",
                "/v1/tools/smollm3?at=0001-01-01T00:00:00%2B00:01",
                None,
                "none",
            ),
        ],
        "text XML cannot carry": [
            Bad(
                "U+FFFF in a name",
                "POST",
                "/v1/tools",
                tool.replace('"N"', '"N\\uffff"').encode(),
                "editor",
            ),
            Bad(
                "U+FFFE in a reason",
                "PATCH",
                "/v1/tools/smollm3",
                b'{"pricing": "Paid", "reason": "why\\ufffe"}',
                "editor",
            ),
            Bad(
                "vertical tab in a verdict",
                "PUT",
                "/v1/tools/smollm3/verdicts/builder",
                b'{"reviewer":"R","decision":"ship","text":"a\\u000bb","reason":"r"}',
                "editor",
            ),
        ],
        "unknown seat": [
            Bad(
                "a typo for a seat",
                "PUT",
                "/v1/tools/smollm3/verdicts/critic",
                b'{"reviewer":"R","decision":"ship","text":"t"}',
                "editor",
            ),
        ],
        "protocol oddities": [
            Bad(
                "wrong content type",
                "PUT",
                vote,
                b'{"choice":"ship"}',
                "voter",
                (("content-type", "text/plain"),),
            ),
            Bad("method not allowed", "PATCH", "/v1/voters", b"{}"),
            Bad(
                "CORS preflight from another site",
                "OPTIONS",
                vote,
                None,
                "none",
                (("origin", "https://evil.example"), ("access-control-request-method", "PUT")),
            ),
        ],
    }


def _foreign_token() -> str:
    """A well-formed voter token minted with a key that is not this ledger's."""
    voter = "v_" + uuid.uuid4().hex[:16]
    mac = base64.urlsafe_b64encode(hashlib.sha256(voter.encode()).digest()).rstrip(b"=").decode()
    return f"Bearer {voter}.{mac}"


def raw_http(port: int, payload: bytes) -> int:
    """Send bytes that are not acceptable HTTP; the answer's status code (0: none)."""
    with socket.create_connection((HOST, port), timeout=5) as s:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(payload)  # the server may answer and close before it has read it all
        try:
            answer = s.recv(200)
        except ConnectionResetError:
            return 0
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return int(match[1]) if match else 0


def bad_input(store: Store, workdir: Path, *, workers: int = 2) -> Outcome:
    """Every request below is answered 4xx, nothing is written, and the server stays alive."""
    outcome = Outcome("bad_input", store.backend)
    workers = workers if store.is_postgres else 1
    with Cluster(store, workdir, workers=workers, env=NO_LIMITS) as cluster:
        revoked = cluster.verdict("keys", "create", "--name", "old").stdout.splitlines()[-1]
        cluster.verdict("keys", "revoke", "old")
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            token = cluster.register(client)
            auth = {
                "voter": f"Bearer {token}",
                "editor": f"Bearer {cluster.editor_key}",
                "revoked": f"Bearer {revoked}",
                "foreign": _foreign_token(),
            }
            pids = cluster.worker_pids()
            before = cluster.log_position()
            answers: list[tuple[str, int]] = []
            for kind, requests in bad_requests().items():
                got = []
                for bad in requests:
                    headers = {k: v.encode() for k, v in bad.headers}  # UTF-8, as sent
                    if bad.auth != "none":
                        headers["authorization"] = auth.get(bad.auth, bad.auth).encode()
                    r = client.request(bad.method, bad.path, content=bad.body, headers=headers)
                    problem = r.headers.get("content-type", "") == "application/problem+json"
                    answers.append((bad.name, r.status_code if problem else 0))
                    got.append(str(r.status_code) + ("" if problem else " (not problem+json)"))
                say(f"{kind} ({len(requests)}): {' '.join(got)}")
            raw = [
                ("garbage request line", b"\x00\x01GARBAGE\r\n\r\n"),
                (
                    "1 MiB header",
                    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2**20 + b"\r\n\r\n",
                ),
                (
                    "bad Content-Length",
                    b"PUT /v1/voters HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                ),
                (
                    "5,000-digit Content-Length",
                    b"PUT /v1/voters HTTP/1.1\r\nHost: x\r\nContent-Length: "
                    + b"9" * 5000
                    + b"\r\n\r\n",
                ),
                (
                    "60 KB head in one piece",
                    b"GET /v1/tools HTTP/1.1\r\nHost: x\r\n"
                    + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(60))
                    + b"\r\n",
                ),
                (
                    "12 KB compare path of -vs-",
                    b"GET /compare/"
                    + b"-vs-".join([b"a"] * 2400)
                    + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                ),
            ]
            got = []
            for name, payload in raw:
                answers.append((name, raw_http(cluster.port, payload)))
                got.append(str(answers[-1][1]))
            say(f"invalid HTTP ({len(raw)}): {' '.join(got)}")
        statuses = Counter(code for _, code in answers)
        say(f"{len(answers)} hostile requests: statuses {dict(sorted(statuses.items()))}")
        wrong = [f"{name}: {code}" for name, code in answers if not 400 <= code < 500]
        outcome.check(not wrong, f"every one answered 4xx {wrong}")
        time.sleep(0.5)
        outcome.check(cluster.log_position() == before, f"nothing written (log still at {before})")
        outcome.check(cluster._answers(), "the server is alive")
        outcome.check(cluster.worker_pids() == pids, f"no worker died or restarted {pids}")
        secrets = [token.partition(".")[2], cluster.editor_key, revoked]
        logs = "".join(cluster.log(n) for n in ("serve", *(f"project-{p}" for p in PROJECTIONS)))
        lines = logs.splitlines()
        outcome.check(
            not any(s in logs for s in secrets), f"no token or key in the {len(lines)} log lines"
        )
        outcome.check(all(line.startswith("{") for line in lines), "every log line is JSON")
        outcome.facts["refused"] = len(answers) - len(wrong)
    return outcome


# -- running --------------------------------------------------------------------------------

# -- rebuild kill -----------------------------------------------------------------------------


def catalog_generations(store: Store) -> tuple[int, int | None, int]:
    """(serving, building, the building generation's tracked position) of the catalog."""
    statement = (
        "SELECT g.serving, g.building, k.position FROM view_generations g LEFT JOIN "
        "view_tracking k ON k.name = 'catalog:g' || CAST(g.building AS TEXT) "
        "WHERE g.name = 'catalog'"
    )
    if store.is_postgres:
        with psycopg.connect(store.url, connect_timeout=5) as conn:
            row = conn.execute(statement).fetchone()
    else:
        with contextlib.closing(sqlite3.connect(store.url.removeprefix("sqlite:///"))) as db:
            row = db.execute(statement).fetchone()
    assert row is not None
    return int(row[0]), None if row[1] is None else int(row[1]), int(row[2] or 0)


def catalog_projection(cluster: Cluster) -> int | None:
    """The pid of the `verdict project catalog` process: ours on PostgreSQL, serve's child on
    SQLite (None while its supervisor restarts it)."""
    if cluster.store.is_postgres:
        return cluster.projectors[CATALOG].pid
    assert cluster.server is not None
    for task in Path(f"/proc/{cluster.server.pid}/task").glob("*/children"):
        for pid in task.read_text().split():
            with contextlib.suppress(FileNotFoundError):
                if b"project\x00catalog" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return int(pid)
    return None


def kill_catalog_projection(cluster: Cluster) -> None:
    """kill -9 the `verdict project catalog` process: serve's child on SQLite (its supervisor
    restarts it), ours on PostgreSQL (restarted here, as a supervisor would)."""
    if cluster.store.is_postgres:
        cluster.projectors[CATALOG].kill()
        cluster.projectors[CATALOG].wait(timeout=10)
        cluster.start_projector(CATALOG)
        return
    pid = catalog_projection(cluster)
    if pid is None:
        raise RuntimeError("no `verdict project catalog` child to kill")
    os.kill(pid, signal.SIGKILL)


def frozen_mid_rebuild(
    store: Store, projection: Callable[[], int | None], timeout: float = 120
) -> tuple[int, int | None, int]:
    """Stop (SIGSTOP) the catalog's projection (the pid `projection()` gives, None while there
    is none) until `store`'s generations show a rebuild under way past position 0, and return
    them with it still stopped: the kill -9 that follows then interrupts exactly what was read,
    however fast the rebuild or loaded the machine (a kill after a mere look raced the
    rebuild's end unless the ledger was big)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = projection()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it may be exiting
                os.kill(pid, signal.SIGSTOP)
                found = catalog_generations(store)
                if found[1] is not None and found[2] > 0:
                    return found
                os.kill(pid, signal.SIGCONT)
                if found[1] is None and found[0] != 1:
                    return found  # switched already: the caller's check says so
        time.sleep(0.02)
    raise RuntimeError(f"not within {timeout} s: a rebuild under way")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def rebuild_kill(store: Store, workdir: Path, *, events: int = 60_000) -> Outcome:
    outcome = Outcome("rebuild_kill", store.backend)
    ledger = Ledger(Settings(database_url=store.url))
    try:
        seed_demo(ledger)
        fill(ledger, (ledger.recorder.max_notification_id() or 0) + events, random.Random(1))
    finally:
        ledger.close()
    cluster = Cluster(store, workdir, workers=1 if store.backend == "sqlite" else 2, env=NO_LIMITS)
    cluster.editor_key = "-"  # the log is not empty: serve prints no key, and none is needed
    with cluster:
        # The code's catalog folds have moved on from those the serving views were built by.
        set_catalog_version(store, CATALOG_VERSION - 1)
        stop = threading.Event()
        readings = [Readings() for _ in range(3)]
        readers = [
            threading.Thread(target=read_until, args=(cluster.url, stop, r, i))
            for i, r in enumerate(readings)
        ]
        for reader in readers:
            reader.start()
        try:
            kill_catalog_projection(cluster)  # restarted with "new" folds: it begins a rebuild
            serving, building, killed_at = frozen_mid_rebuild(
                store, lambda: catalog_projection(cluster)
            )
            kill_catalog_projection(cluster)  # ... and dies in the middle of it
            outcome.check(
                catalog_generations(store) == (serving, building, killed_at),
                "the kill lost no committed progress",
            )
            outcome.check(
                building is not None and serving < building,
                f"killed mid-rebuild at position {killed_at} (generation {building})",
            )
            wait_for(lambda: catalog_generations(store)[1] is None, "the switch")
            after = catalog_generations(store)
            outcome.check(after[0] == building, f"generation {building} serves after the switch")
            time.sleep(0.5)
        finally:
            stop.set()
            for reader in readers:
                reader.join(timeout=30)
        log = cluster.log("serve") + cluster.log(f"project-{CATALOG}")
        switches = log.count(f"catalog: switched to generation {building}")
        outcome.check(switches == 1, f"the switch happened once ({switches})")
        starts = [int(p) for p in re.findall(r"beside them from log position (\d+)", log)]
        outcome.check(
            len(starts) == 2 and starts[1] >= killed_at > 0,
            f"the restarted process resumed from {starts[1:]} (killed at {killed_at}), not 0",
        )
        reads = sum(r.reads for r in readings)
        errors = [e for r in readings for e in r.errors]
        back = [e for r in readings for e in r.went_back]
        outcome.check(not errors, f"{reads} reads meanwhile, {len(errors)} failed {errors[:3]}")
        outcome.check(not back, f"no reader saw the position go back {back[:3]}")
        outcome.facts.update(reads=reads, killed_at=killed_at, switched_at=after[0])
    return outcome


def set_catalog_version(store: Store, version: int) -> None:
    statement = f"UPDATE view_generations SET version = {int(version)} WHERE name = 'catalog'"  # noqa: S608 - a number
    if store.is_postgres:
        with psycopg.connect(store.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement.encode())
    else:
        with contextlib.closing(sqlite3.connect(store.url.removeprefix("sqlite:///"))) as db, db:
            db.execute(statement)


# -- disk full ------------------------------------------------------------------------------

DISK_MB = 24
"""The tmpfs the disk-full drill puts the SQLite file on: room for the demo data and the votes
of the first seconds, filled up afterwards."""


@contextlib.contextmanager
def small_disk(folder: Path, megabytes: int = DISK_MB) -> Iterator[Path]:
    """A tmpfs of `megabytes` mounted at `folder` (the drill runs as root), unmounted after. A
    mount that fails raises: a drill that cannot make a disk full has not shown anything."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        raise RuntimeError(
            f"cannot mount a {megabytes} MB tmpfs at {folder} (needs root): "
            f"{mounted.stderr.strip() or mounted.returncode}"
        )
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def fill_disk(path: Path) -> int:
    """Write `path` until the disk has no room left; the bytes written."""
    block, written = b"\0" * 65536, 0
    with path.open("wb", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    written += f.write(block[:size])
            except OSError:  # ENOSPC: try a smaller write, down to a byte
                continue
    return written


def full_answer(url: str, token: str, timeout: float = 30) -> httpx.Response | None:
    """Votes of one voter, flipping ship/skip (each one writes), until one is refused with a
    5xx: that answer (None if every vote was stored until `timeout`)."""
    deadline = time.monotonic() + timeout
    choice = "skip"
    with httpx.Client(base_url=url, timeout=10) as client:
        while time.monotonic() < deadline:
            choice = "ship" if choice == "skip" else "skip"
            answer = client.put(
                f"/v1/tools/{TOOLS[0]}/vote", json={"choice": choice}, headers=bearer(token)
            )
            if answer.status_code >= 500:
                return answer
    return None


def disk_full(store: Store, workdir: Path, *, threads: int = 8) -> Outcome:
    """The SQLite file on a small tmpfs, votes flowing; fill the disk: votes are refused with
    503 problem+json and Retry-After (never a 500); delete the filler: votes are stored again
    with nothing restarted; nothing acknowledged is lost, the views catch up and the log
    verifies. PostgreSQL's disk is its server's, which this drill does not fill."""
    outcome = Outcome("disk_full", store.backend)
    if store.is_postgres:
        say("a SQLite drill: PostgreSQL's disk belongs to its server, not to this process")
        outcome.facts["skipped"] = "SQLite only"
        return outcome
    with small_disk(workdir / "disk") as disk:
        small = Store("sqlite", f"sqlite:///{disk}/ledger.db")
        cluster = Cluster(small, workdir, workers=1, env=NO_LIMITS)
        with cluster:
            probe = cluster.registered(1)[0]
            load = VoteLoad(cluster.url, threads)
            load.start()
            try:
                time.sleep(2)
                filler = disk / "filler"
                filled = fill_disk(filler)
                say(f"{threads} client threads voting; filled the disk ({filled:,} bytes)")
                refused = full_answer(cluster.url, probe)
                problem = refused.json() if refused is not None else {}
                retry = refused.headers.get("retry-after") if refused is not None else None
                outcome.check(
                    refused is not None
                    and refused.status_code == 503
                    and refused.headers.get("content-type") == "application/problem+json"
                    and int(retry or "0") >= 1
                    and problem.get("type") == "/problems/storage-full",
                    f"a vote on the full disk: {refused and refused.status_code} "
                    f"{problem.get('type')} Retry-After {retry}",
                )
                time.sleep(2)
                before = len(load.acks)
                filler.unlink()
                freed = time.monotonic()
                while len(load.acks) < before + 50 and time.monotonic() - freed < 30:
                    time.sleep(0.1)
                took = time.monotonic() - freed
                outcome.check(
                    len(load.acks) >= before + 50,
                    f"votes are stored again {took:.1f} s after the space came back",
                )
                outcome.facts["recovered_s"] = round(took, 1)
                time.sleep(1)
            finally:
                load.stop()
            say(f"errors and refusals seen meanwhile: {dict(load.errors)}")
            outcome.facts["refused"] = load.errors["503"]
            outcome.check(load.errors["503"] > 0, f"{load.errors['503']} votes refused with 503")
            outcome.check(
                not any(code.startswith("5") and code != "503" for code in load.errors),
                "no other 5xx answer",
            )
            took = cluster.wait_caught_up()
            say(f"every projection caught up {took:.1f} s after the last vote")
            check_acks(small, load.acks, outcome)
            verify_log(cluster, outcome)
        rebuild_equals_live(cluster, outcome)
    return outcome


SCENARIOS: dict[str, Callable[[Store, Path], Outcome]] = {
    "race": race,
    "bad_input": bad_input,
    "flood": flood,
    "crash": crash,
    "rebuild_kill": rebuild_kill,
    "disk_full": disk_full,
}


def run(backend: str, name: str, workdir: Path) -> Outcome:
    print(f"\n== {name} on {backend}", flush=True)
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-{backend}-", dir=workdir))
    with Store.fresh(backend, folder) as store:
        try:
            outcome = SCENARIOS[name](store, folder)
        except (
            RuntimeError,
            OSError,
            httpx.HTTPError,
            psycopg.Error,
            subprocess.SubprocessError,
        ) as error:
            outcome = Outcome(name, backend)
            outcome.check(False, f"the scenario broke off: {type(error).__name__}: {error}")
    outcome.seconds = time.monotonic() - started
    say(f"{'PASSED' if outcome.ok else 'FAILED'} in {outcome.seconds:.0f} s")
    return outcome


def summary(outcomes: list[Outcome]) -> str:
    lines = ["", "== summary"]
    for o in outcomes:
        f = o.facts
        if o.scenario == "crash":
            detail = (
                f"votes acknowledged {f.get('acknowledged', '?')}, found {f.get('found', '?')}; "
                f"{f.get('errors', '?')} failed requests retried"
            )
        elif o.scenario == "flood":
            detail = (
                f"refused {f.get('refused_voter', '?')}/{f.get('sent_voter', '?')} (voter) and "
                f"{f.get('refused_address', '?')}/{f.get('sent_address', '?')} (address); "
                f"others' p99 {f.get('p99_ms', '?')} ms (baseline {f.get('p99_baseline_ms', '?')})"
            )
        elif o.scenario == "bad_input":
            detail = f"{f.get('refused', '?')} hostile requests refused with 4xx"
        elif o.scenario == "disk_full":
            detail = f.get("skipped") or (
                f"{f.get('refused', '?')} votes refused with 503 while full, stored again "
                f"{f.get('recovered_s', '?')} s after space came back; "
                f"{f.get('found', '?')}/{f.get('acknowledged', '?')} acknowledged found"
            )
        elif o.scenario == "rebuild_kill":
            detail = (
                f"killed mid-rebuild at {f.get('killed_at', '?')}, resumed, switched once; "
                f"{f.get('reads', '?')} reads meanwhile, none failed or went back"
            )
        else:
            detail = f"{f.get('race_voters', '?')} voters + 1 voter x 200: exact counts"
        status = "PASS" if o.ok else "FAIL"
        lines.append(f"{status}  {o.backend:8} {o.scenario:9} {o.seconds:5.0f}s  {detail}")
        lines += [f"      - {failure}" for failure in o.failures]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_flood"]:
        return flood_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--scenario", choices=list(SCENARIOS), action="append")
    parser.add_argument("--max-seconds", type=int, default=900, help="abort after this long")
    args = parser.parse_args(argv)
    if args.backend != "sqlite" and urlsplit(ADMIN_URL).hostname not in ("127.0.0.1", "localhost"):
        parser.error(
            f"the drill restarts PostgreSQL: it runs against 127.0.0.1 only, not {ADMIN_URL}"
        )

    def too_long(_: int, __: FrameType | None) -> None:
        raise DrillTimeout(f"the drill took more than {args.max_seconds} s")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(args.max_seconds)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    workdir = Path(tempfile.mkdtemp(prefix="verdict-drill-"))
    outcomes: list[Outcome] = []
    try:
        for backend in backends:
            for name in args.scenario or list(SCENARIOS):
                outcomes.append(run(backend, name, workdir))
    finally:
        signal.alarm(0)
        print(summary(outcomes), flush=True)
        if all(o.ok for o in outcomes):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs kept in {workdir}")
    return 0 if outcomes and all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
