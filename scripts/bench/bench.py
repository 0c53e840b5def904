#!/usr/bin/env python3
"""Benchmark the ledger against its baselines, in one run, on this machine (issue 6).

    python scripts/bench/bench.py [--backend sqlite|postgres|both] [--duration S] [--rounds R]
                            [--concurrency N] [--workers N] [--events N] [--json PATH]
                            [--tools N] [--catalog-events N] [--skip votes,kill,catalog,rebuild]

What it measures, and how:

- votes/s: each service runs as a person runs it (`python -m api.server.cli serve`, uvicorn, rate
  limits raised out of the way; `--workers` server processes, the same for all) on a
  fresh SQLite file or a fresh PostgreSQL database, and is driven from separate processes
  (scripts/bench/load.py) by `--concurrency` voters over keep-alive HTTP to 127.0.0.1. Voters
  are registered before the clock starts (tokens minted by the ledger's own `Credentials`, as
  `POST /v1/voters` would); each vote casts a fresh ballot on one of the six demo tools (random
  ship/skip) or, one time in five, changes an earlier ballot's mind. A 2xx answer is durable
  (the ledger answers after its commit); the figure is 2xx answers per measured second. Four
  services: the ledger (group commit, signed promises in every receipt), the same ledger with
  VERDICT_PROMISES=false (what the promises cost: issue 15 wants ≥ 0.9), the naive
  event-sourced service (the same ledger with VERDICT_GROUP_COMMIT=false: one `save()` per
  request) and a plain CRUD counter (scripts/bench/crud.py: one `UPDATE tallies ... + 1` per
  request). They run at once and the load visits them in turn, `--rounds` slices each in
  rotating order, so the machine's other work (it is shared) weighs on all alike; "range over
  slices" shows how much it moved.
- reads: a reader process GETs `/v1/tools/{slug}` every 10 ms during every slice; p50/p99 of
  its latency (send to last byte) is the read latency under that service's write load.
- server CPU µs/vote: CPU time of the server's processes over the window per acknowledged vote,
  the cost that any optimisation of the vote path should lower, and the least noisy figure.
- kill -9: the ledger under the same load is killed (SIGKILL to its process group) a few
  seconds in; every acknowledged receipt (log position, leaf hash) must then be in the store
  exactly once with the acknowledged choice, nothing may be stored that no voter sent, and the
  restarted service must publish the tallies that the stored ballots give.
- catalog: the same vote and read measurements on the demo ledger (6 tools) and on a ledger of
  `--tools` tools, ~500k voters and `--catalog-events` events built once through the aggregates
  and cached (scripts/bench/scale_ledger.py, ANALYZE run after building), beside the ceiling:
  the same HTTP stack answering votes with no database (scripts/bench/ceiling.py); issue 17's
  targets, the lists' sizes and latencies, and ledger ÷ ceiling (scripts/bench/catalog_size.py).
- rebuild: a SQLite ledger of `--events` events (cached under var/bench/) is rebuilt from zero
  in a child process (scripts/bench/replay.py, as `verdict rebuild` does), and again as
  `verdict rebuild --jobs 2` does (the audit log in a second process), beside the raw read
  rate of the same events (sqlite3 + orjson.loads: the ceiling) and the library's own
  read-and-decode rate; the rebuild's peak RSS at a tenth of the events and at all of them
  shows whether its memory is bounded. Then a copy of the cached catalog-size ledger (the
  catalog section's, `--tools`, `--catalog-events`) is rebuilt the same way: its time per
  event ÷ the demo ledger's (issue 17: at most 1.5x), in wall-clock and CPU time.

Reading the table: a ratio compares figures of this same run (absolute figures move with the
machine's load; `loadavg_*` in the JSON says how busy it was); `target` repeats issue 6's goal
and PASS/MISS says whether this run met it. `--json PATH` writes every figure, including per
slice rates, vote latencies, errors, and the service's own batch-size metrics.

Everything runs on 127.0.0.1, every process it starts is stopped by its PID (process group),
every PostgreSQL database it creates is dropped, and scratch files are removed (cached ledgers
stay in var/bench/)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from api.bootstrap import open_runtime
from domain.application import Ledger
from domain.demo_data import TOOLS
from domain.settings import Settings
from projections.following.rebuild import read_events

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/, for verify.py
import verify

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
SLUGS = [t.slug for t in TOOLS]
SERVICES = ("ledger", "unpromised", "naive", "crud")
LABELS = {
    "ledger": "ledger (group commit)",
    "unpromised": "ledger without promises",
    "naive": "naive ES (save per request)",
    "crud": "CRUD counter (UPDATE/request)",
}
READ_INTERVAL = 0.010
CHANGE_RATE = 0.2
UNLIMITED = str(10**9)
"""Rate limits per minute, high enough never to answer 429 during a run."""
TARGETS = {
    "ledger_vs_naive_sqlite": 4.0,
    "ledger_vs_crud_sqlite": 2.0,
    "ledger_vs_naive_postgres": 5.0,
    "ledger_vs_unpromised_sqlite": 0.9,
    "ledger_vs_unpromised_postgres": 0.9,
    "read_p99_ms": 20.0,
    "rebuild_vs_raw": 0.5,
    "rebuild_catalog_vs_demo": 1.5,
    "rss_ratio": 1.2,
}


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    """A port the kernel just had free on 127.0.0.1 (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Command:
    """How to start one service: its process, and any helper processes it needs."""

    argv: list[str]
    env: dict[str, str]
    helpers: list[list[str]] = field(default_factory=list)
    """Started beside it with the same environment (`verdict project NAME` on PostgreSQL
    with several workers, where the workers leave the projections to one process each)."""


@dataclass
class Server:
    """A service we started: its process group and helpers, stopped or killed by PID only."""

    name: str
    process: subprocess.Popen[bytes]
    helpers: list[subprocess.Popen[bytes]]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the server, its worker processes and its helpers, from /proc."""
        return sum(_cpu_of_tree(p.pid) for p in [self.process, *self.helpers])

    def kill(self) -> None:
        """SIGKILL to the server's process group (uvicorn and its workers), as a crash would:
        no shutdown hooks, nothing flushed. Helpers live on, as separate services would."""
        os.killpg(self.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        for process in [self.process, *self.helpers]:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def proc_stat(stat: Path) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) from a /proc `stat` file of a process or a
    thread; None if it ended while we looked."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_of_tree(root: int) -> float:
    """CPU seconds of `root` and every live descendant (uvicorn's worker processes)."""
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        found = proc_stat(stat)
        if found is not None:
            pid = int(stat.parent.name)
            parents[pid], seconds[pid] = found
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(seconds.get(pid, 0.0) for pid in tree)


@contextmanager
def serve(name: str, command: Command, run_dir: Path) -> Iterator[Server]:
    """Start a service (and its helpers), wait until it answers a read, and always stop it."""
    port = free_port()
    log = run_dir / f"{name}-{port}.log"
    env = {**os.environ, **command.env}
    started: list[subprocess.Popen[bytes]] = []
    server = None
    try:
        with log.open("wb") as out:
            for argv in [
                [*command.argv, "--host", "127.0.0.1", "--port", str(port)],
                *command.helpers,
            ]:
                started.append(
                    subprocess.Popen(  # noqa: S603 - our own scripts, fixed arguments
                        argv,
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        server = Server(name, started[0], started[1:], port, log)
        wait_ready(server)
        yield server
    finally:
        if server is not None:
            server.stop()
        else:
            for process in started:
                process.kill()
                process.wait()


def wait_ready(server: Server, timeout: float = 60.0) -> None:
    """Poll a read route until it answers 200 (the ledger also seeds and projects first)."""
    url = f"http://127.0.0.1:{server.port}/v1/tools/{SLUGS[0]}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in [server.process, *server.helpers]):
            raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer within {timeout:.0f}s; see {server.log}")


def ledger_command(
    database_url: str, *, group_commit: bool, workers: int, promises: bool = True
) -> Command:
    """`verdict serve`, as a person starts it; rate limits out of the way. With several workers
    on PostgreSQL, `verdict serve` leaves the views to `verdict project NAME`: start those too."""
    env = {
        "VERDICT_DATABASE_URL": database_url,
        "VERDICT_GROUP_COMMIT": "true" if group_commit else "false",
        "VERDICT_PROMISES": "true" if promises else "false",
        "VERDICT_VOTES_PER_MINUTE": UNLIMITED,
        "VERDICT_VOTER_REGISTRATIONS_PER_MINUTE": UNLIMITED,
    }
    argv = [PYTHON, "-m", "api.server.cli", "serve"]
    if workers == 1:
        return Command(argv, env)
    helpers = []
    if Settings(database_url=database_url).is_postgres:
        from api.bootstrap import PROJECTIONS  # only `serve --workers N` needs these

        helpers = [[PYTHON, "-m", "api.server.cli", "project", name] for name in PROJECTIONS]
    return Command([*argv, "--workers", str(workers)], env, helpers)


def crud_command(database_url: str, *, workers: int) -> Command:
    argv = [PYTHON, str(BENCH / "crud.py"), "--database-url", database_url]
    return Command([*argv, "--workers", str(workers)], {})


# -- databases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    name: str
    admin_url: str
    run_dir: Path
    workers: int = 1
    """Server processes per service (`verdict serve --workers N`); the same for all."""

    @contextmanager
    def database(
        self, label: str, *, file: Path | None = None, template: str | None = None
    ) -> Iterator[str]:
        """A fresh database URL for one measurement, removed afterwards: empty, or a copy of
        the SQLite `file` / of the PostgreSQL database `template`."""
        if self.name == "sqlite":
            path = self.run_dir / f"{label}.db"
            if file is not None:
                shutil.copyfile(file, path)
            try:
                yield f"sqlite:///{path}"
            finally:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        name = f"verdict_bench_{secrets.token_hex(6)}"
        copied = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"{copied}')
        try:
            yield self.admin_url.rsplit("/", 1)[0] + "/" + name
        finally:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def require_postgres(admin_url: str) -> None:
    """Fail at once, and say what to do, rather than minutes into the run."""
    try:
        psycopg.connect(admin_url, connect_timeout=5).close()
    except psycopg.Error as error:
        raise SystemExit(
            f"PostgreSQL at {admin_url} is unreachable ({error}); pass --postgres-url, "
            "or --backend sqlite"
        ) from error


def mint_voters(database_url: str, count: int) -> list[tuple[str, str]]:
    """Voter tokens from the ledger's own Credentials, exactly what `POST /v1/voters` hands out
    (stateless HMAC tokens), made before the clock starts so registration is not measured."""
    runtime = open_runtime(Settings(database_url=database_url, group_commit=False))
    try:
        return [runtime.credentials.register_voter() for _ in range(count)]
    finally:
        runtime.close()


def fake_voters(count: int) -> list[tuple[str, str]]:
    """Tokens of the same shape for the CRUD counter (it checks none): identical request bytes."""
    voters = []
    for _ in range(count):
        voter_id = "v_" + secrets.token_hex(8)
        voters.append((voter_id, f"{voter_id}.{secrets.token_urlsafe(32)}"))
    return voters


# -- load -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    concurrency: int
    warmup: float
    duration: float

    def voters_needed(self) -> int:
        """Enough fresh ballots for ~15k votes/s through warm-up and window, so the vote mix
        stays the same however fast the service is."""
        votes = 15_000 * (self.warmup + self.duration)
        return max(10 * self.concurrency, int(votes * (1 - CHANGE_RATE) / len(SLUGS)) + 1)


def run_load(
    server: Server,
    voters: list[tuple[str, str]],
    load: Load,
    run_dir: Path,
    *,
    reader: bool = True,
    kill_after: float | None = None,
    slugs: list[str] | None = None,
) -> dict[str, Any]:
    """Drive `server` from separate processes (voters, and a paced reader), voting on and
    reading `slugs`, each voter on as many of them as there are demo tools; sample the server's
    CPU over the window; with `kill_after`, SIGKILL the server that many seconds in."""
    start_at = time.time() + 1.0
    base = {
        "host": "127.0.0.1",
        "port": server.port,
        "slugs": slugs or SLUGS,
        "tools_per_voter": len(SLUGS),
        "start_at": start_at,
        "warmup": load.warmup,
        "duration": load.duration,
        "concurrency": load.concurrency,
        "change_rate": CHANGE_RATE,
        "read_interval": READ_INTERVAL,
        "seed": 6,
        "until_disconnect": kill_after is not None,
        "journal": kill_after is not None,
    }
    roles = {"voters": {**base, "role": "voters", "tokens": voters}}
    if reader:
        roles["reader"] = {**base, "role": "reader"}
    processes = {}
    for role, config in roles.items():
        config_path = run_dir / f"{server.name}-{role}.json"
        config_path.write_text(json.dumps(config))
        processes[role] = subprocess.Popen(  # noqa: S603 - our own script
            [PYTHON, str(BENCH / "load.py"), str(config_path), f"{config_path}.out"],
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        cpu = None
        if kill_after is None:
            _sleep_until(start_at + load.warmup)
            cpu_start = server.cpu_seconds()
            _sleep_until(start_at + load.warmup + load.duration)
            cpu = server.cpu_seconds() - cpu_start
        else:
            _sleep_until(start_at + kill_after)
            server.kill()
        results = {}
        for role, process in processes.items():
            if process.wait(load.warmup + load.duration + 120) != 0:
                raise RuntimeError(f"load generator ({role}) failed with {process.returncode}")
            out = run_dir / f"{server.name}-{role}.json.out"
            results[role] = json.loads(out.read_text())
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    results["server_cpu_s"] = cpu
    return results


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


# -- vote throughput --------------------------------------------------------------------------


@contextmanager
def start_service(backend: Backend, service: str, load: Load) -> Iterator[tuple[Server, Any]]:
    """One service on a fresh database, with the voter tokens its load will use."""
    with backend.database(service) as url:
        if service == "crud":
            command = crud_command(url, workers=backend.workers)
            voters = fake_voters(load.voters_needed())
        else:
            group_commit = service in ("ledger", "unpromised")
            command = ledger_command(
                url,
                group_commit=group_commit,
                workers=backend.workers,
                promises=service != "unpromised",
            )
            voters = mint_voters(url, load.voters_needed())
        with serve(service, command, backend.run_dir) as server:
            yield server, voters


def measure_backend(backend: Backend, load: Load, rounds: int) -> dict[str, Any]:
    """The services side by side on one backend. All run at once (an idle one costs nothing)
    and the load visits them in turn, `rounds` times in a rotating order, each visit a slice of
    the window: a burst of other work on this shared machine then lands on all alike instead of
    on whichever happened to be measured at that moment."""
    piece = Load(load.concurrency, load.warmup, load.duration / rounds)
    whole = Load(load.concurrency, load.warmup * rounds, load.duration)
    slices: dict[str, list[dict[str, Any]]] = {s: [] for s in SERVICES}
    with ExitStack() as stack:
        services = {s: stack.enter_context(start_service(backend, s, whole)) for s in SERVICES}
        for r in range(rounds):
            turn = r % len(SERVICES)
            for service in SERVICES[turn:] + SERVICES[:turn]:
                server, voters = services[service]
                share = voters[r::rounds]  # fresh voters for every slice
                slices[service].append(run_load(server, share, piece, backend.run_dir))
        figures = {s: combine(slices[s], load.duration) for s in SERVICES}
        for service in ("ledger", "naive"):
            figures[service]["server_metrics"] = scrape_metrics(services[service][0])
    ledger = [v["voters"]["ok"] for v in slices["ledger"]]
    figures["ratios"] = {
        "ledger_vs_naive": figures["ledger"]["votes_per_s"] / figures["naive"]["votes_per_s"],
        "ledger_vs_crud": figures["ledger"]["votes_per_s"] / figures["crud"]["votes_per_s"],
        "ledger_vs_unpromised": (
            figures["ledger"]["votes_per_s"] / figures["unpromised"]["votes_per_s"]
        ),
        "per_round_ledger_vs_unpromised": _per_round(ledger, slices["unpromised"]),
        "per_round_ledger_vs_naive": _per_round(ledger, slices["naive"]),
        "per_round_ledger_vs_crud": _per_round(ledger, slices["crud"]),
    }
    return figures


def _per_round(ledger: list[int], other: list[dict[str, Any]]) -> list[float | None]:
    """The ratio slice by slice: its spread shows how much the machine's noise moved it."""
    counts = [s["voters"]["ok"] for s in other]
    return [a / b if b else None for a, b in zip(ledger, counts, strict=True)]


def combine(slices: list[dict[str, Any]], duration: float) -> dict[str, Any]:
    """One service's slices as one measurement: totals over the whole window, percentiles over
    every sample of every slice."""
    ok = sum(s["voters"]["ok"] for s in slices)
    cpu = sum(s["server_cpu_s"] for s in slices)
    errors: Counter[str] = Counter()
    read_errors: Counter[str] = Counter()
    for s in slices:
        errors.update(s["voters"]["errors"])
        read_errors.update(s["reader"]["errors"])
    return {
        "votes_per_s": ok / duration,
        "votes_ok": ok,
        "votes_per_s_by_round": [s["voters"]["per_second"] for s in slices],
        "vote_errors": dict(errors),
        "vote_latency_ms": percentiles([t for s in slices for t in s["voters"]["latencies_ms"]]),
        "read_latency_ms": percentiles([t for s in slices for t in s["reader"]["latencies_ms"]]),
        "reads_ok": sum(s["reader"]["ok"] for s in slices),
        "read_errors": dict(read_errors),
        "server_cpu_s": cpu,
        "server_cpu_share": cpu / duration,
        "server_cpu_us_per_vote": cpu / ok * 1e6 if ok else None,
        "client_cpu_s": sum(s["voters"]["client_cpu_s"] for s in slices),
    }


def percentiles(samples_ms: list[float]) -> dict[str, float | None]:
    """Nearest-rank p50 / p99 and the maximum, in ms; None when nothing was measured."""
    if not samples_ms:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(samples_ms)
    at = {q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.99)}
    return {"p50": at[0.5], "p99": at[0.99], "max": ordered[-1]}


def scrape_metrics(server: Server) -> dict[str, float]:
    """Means of the service's own batch-size histograms (`/metrics`, where it has them): how
    many events each write and each projection transaction carried. Diagnostics only."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if "batch" not in name or line.startswith("#"):
            continue
        if "_sum" in name:
            sums[name.replace("_sum", "", 1)] = float(value)
        elif "_count" in name:
            counts[name.replace("_count", "", 1)] = float(value)
    means = {f"mean {k}": sums[k] / counts[k] for k in sums if counts.get(k)}
    return {**means, **{f"count {k}": v for k, v in counts.items()}}


# -- kill -9 ----------------------------------------------------------------------------------


def kill_check(backend: Backend, load: Load, kill_after: float) -> dict[str, Any]:
    """Kill the ledger mid-run, then hold every acknowledged vote to what the store kept, and
    the restarted service's tallies to the stored ballots."""
    with backend.database("kill") as url:
        voters = mint_voters(url, load.voters_needed())
        command = ledger_command(url, group_commit=True, workers=backend.workers)
        with serve("kill", command, backend.run_dir) as server:
            results = run_load(server, voters, load, backend.run_dir, kill_after=kill_after)
        journal = results["voters"]
        verdict = check_acks(url, journal["acks"], journal["in_flight"])
        with serve("restart", command, backend.run_dir) as server:
            verdict["restart_tallies_match"] = tallies_match(server, verdict.pop("tallies"))
    verdict["passed"] = not verdict["problems"] and verdict["restart_tallies_match"]
    return verdict


def leaf_hash(event: Any) -> str:
    """docs/audit.md's leaf hash of a stored event, base64, by scripts/verify.py's definition
    (the independent reference), not the service's own code."""
    exported = {
        "originator_id": event.originator_id,
        "originator_version": event.version,
        "position": event.position,
        "state": event.data,
        "topic": event.topic,
    }
    return base64.b64encode(verify.leaf_hash(verify.canonical_json(exported))).decode()


def check_acks(
    database_url: str, acks: list[dict[str, Any]], in_flight: list[dict[str, Any]]
) -> dict[str, Any]:
    """Every 2xx vote is in the store exactly once, as acknowledged; nothing else was stored
    but the at most one request per voter that was in flight at the kill."""
    stored, ballots = _stored_ballots(database_url)
    problems = _receipt_problems(acks, stored, ballots)
    ballot_problems, in_flight_stored = _ballot_problems(acks, in_flight, ballots)
    problems += ballot_problems
    return {
        "acknowledged": len(acks),
        "stored_ballot_events": sum(len(e) for e in ballots.values()),
        "in_flight_at_kill": len(in_flight),
        "in_flight_stored": in_flight_stored,
        "problems": problems[:20],
        "problem_count": len(problems),
        "tallies": _tallies(ballots),
    }


Ballots = dict[tuple[str, str], list[Any]]
"""(voter id, tool) -> that ballot's stored events."""


def _stored_ballots(database_url: str) -> tuple[dict[int, Any], Ballots]:
    """Every stored event by log position, and the ballot events grouped by voter and tool
    (read from the events themselves, not from any view)."""
    ledger = Ledger(Settings(database_url=database_url, group_commit=False, create_tables=False))
    try:
        stored = {e.position: e for e in read_events(ledger.recorder)}
    finally:
        ledger.close()
    ballots: Ballots = {}
    for event in stored.values():
        if event.kind.startswith("Ballot."):
            key = (event.data["actor"].removeprefix("voter:"), event.data["tool"])
            ballots.setdefault(key, []).append(event)
    return stored, ballots


def _receipt_problems(
    acks: list[dict[str, Any]], stored: dict[int, Any], ballots: Ballots
) -> list[str]:
    """Each receipt names a stored event of that voter's ballot, with that choice and that leaf
    hash, and no two receipts name the same event."""
    written = [a for a in acks if a["position"] is not None]
    claimed = Counter(a["position"] for a in written)
    problems = [f"position {p} acknowledged {n} times" for p, n in claimed.items() if n > 1]
    for ack in written:
        key = (ack["voter"], ack["tool"])
        event = stored.get(ack["position"])
        if event is None:
            problems.append(f"acknowledged vote lost: {ack}")
        elif event not in ballots.get(key, []):
            problems.append(f"receipt {ack['position']} is not this voter's ballot: {ack}")
        elif event.data.get("choice") != ack["choice"]:
            problems.append(f"receipt {ack['position']} stored another choice: {ack}")
        elif leaf_hash(event) != ack["leaf_hash"]:
            problems.append(f"receipt {ack['position']} leaf hash differs: {ack}")
    return problems


def _ballot_problems(
    acks: list[dict[str, Any]], in_flight: list[dict[str, Any]], ballots: Ballots
) -> tuple[list[str], int]:
    """Each ballot is one dense stream with one event per acknowledged vote, plus at most the
    voter's unanswered request; it ends at the last acknowledged choice unless that request
    was stored. Returns the problems and how many in-flight votes were stored."""
    last = {(a["voter"], a["tool"]): a["choice"] for a in acks}
    acked = Counter((a["voter"], a["tool"]) for a in acks if a["position"] is not None)
    pending = {(v["voter"], v["tool"]): v["choice"] for v in in_flight}
    problems = [f"acknowledged ballot {k} not stored at all" for k in last if k not in ballots]
    in_flight_stored = 0
    for key, events in ballots.items():
        ids = {e.originator_id for e in events}
        versions = sorted(e.version for e in events)
        if len(ids) != 1 or versions != list(range(1, len(events) + 1)):
            problems.append(f"ballot {key} is not one dense stream: {len(ids)} ids, {versions}")
        extra = len(events) - acked[key]
        final = max(events, key=lambda e: e.version).data.get("choice")
        if extra == 1 and key in pending and final == pending[key]:
            in_flight_stored += 1
        elif extra != 0:
            problems.append(f"ballot {key}: {len(events)} events for {acked[key]} acks")
        elif final != last.get(key):
            problems.append(f"ballot {key} ends at {final}, last acknowledged {last.get(key)}")
    return problems, in_flight_stored


def _tallies(ballots: Ballots) -> dict[str, dict[str, int]]:
    """Community counts from the stored ballots' final choices."""
    tallies = {slug: {"ship": 0, "skip": 0} for slug in SLUGS}
    for (_, tool), events in ballots.items():
        choice = max(events, key=lambda e: e.version).data.get("choice")
        if choice in ("ship", "skip"):
            tallies[tool][choice] += 1
    return tallies


def tallies_match(server: Server, expected: dict[str, dict[str, int]]) -> bool:
    """After the restart the views catch up from their tracking: tallies equal the store's."""
    url = f"http://127.0.0.1:{server.port}/v1/tools"
    deadline = time.monotonic() + 30
    while True:
        with urllib.request.urlopen(url, timeout=10) as answer:
            tools = json.loads(answer.read())["tools"]
        found = {t["slug"]: {k: t["community"][k] for k in ("ship", "skip")} for t in tools}
        if found == expected or time.monotonic() > deadline:
            return found == expected
        time.sleep(0.2)


# -- rebuild ----------------------------------------------------------------------------------


def replay(command: str, db: Path, *extra: str) -> dict[str, Any]:
    """Run one scripts/bench/replay.py measurement in a fresh process; its JSON answer."""
    done = subprocess.run(  # noqa: S603 - our own script
        [PYTHON, str(BENCH / "replay.py"), command, str(db), *extra],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=1800,
    )
    answer: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return answer


def measure_rebuild(
    events: int, cache: Path, catalog: Backend, tools: int, catalog_events: int
) -> dict[str, Any]:
    """Rebuild rates at `events`, the read ceilings, and peak RSS at a tenth and at all; then
    the rebuild of the catalog-size ledger (`tools`, `catalog_events`) beside it."""
    run_dir = catalog.run_dir
    cache.mkdir(parents=True, exist_ok=True)
    sizes = sorted({max(1, events // 10), events})
    figures: dict[str, Any] = {"events": events, "rss_kib": {}}
    for size in sizes:
        cached = cache / f"ledger-{size}.db"
        built = replay("build", cached, str(size))
        work = run_dir / f"rebuild-{size}.db"
        shutil.copyfile(cached, work)
        try:
            if size == events:
                figures["build"] = built
                figures["read"] = replay("read", work)
            result = replay("rebuild", work)
            if size == events:  # `verdict rebuild --jobs 2`: the audit log in a second process
                shutil.copyfile(cached, work)
                figures["rebuild_jobs2"] = replay("rebuild", work, "2")
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{work}{suffix}").unlink(missing_ok=True)
        figures["rss_kib"][str(size)] = result["peak_rss_kib"]
        if size == events:
            figures["rebuild"] = result
    read, rebuilt = figures["read"], figures["rebuild"]
    raw_rate = read["events"] / read["raw_seconds"]
    figures["rates"] = {
        "raw_read": raw_rate,
        "library_read": read["library_events"] / read["library_seconds"],
        # One process folds every projection in the same pass: their own times are the total's.
        **(
            {name: events / s for name, s in rebuilt["seconds"].items()}
            if rebuilt.get("jobs", 1) > 1
            else {}
        ),
        "rebuild_total": events / rebuilt["total_seconds"],
        "rebuild_jobs2": events / figures["rebuild_jobs2"]["total_seconds"],
    }
    figures["vs_raw"] = {k: v / raw_rate for k, v in figures["rates"].items()}
    small, large = figures["rss_kib"][str(sizes[0])], figures["rss_kib"][str(sizes[-1])]
    figures["rss_ratio"] = large / small
    figures["catalog_size"] = rebuild_at_catalog_size(
        catalog, tools, catalog_events, cache, rebuilt
    )
    return figures


def rebuild_at_catalog_size(
    backend: Backend, tools: int, events: int, cache: Path, demo: dict[str, Any]
) -> dict[str, Any]:
    """`verdict rebuild` of a copy of the cached catalog-size ledger (scripts/bench/
    scale_ledger.py), and its time per event ÷ that of `demo` (the demo catalog's rebuild of
    this run): issue 17 wants the cost of an event not to grow with the catalog. Also in CPU
    time, which moves less with the machine's load."""
    from catalog_size import build

    built = build(backend, tools, events, cache)
    with backend.database("rebuild-catalog", file=Path(built["path"])) as url:
        result = replay("rebuild", Path(url.removeprefix("sqlite:///")))

    def per_event(run: dict[str, Any], key: str) -> float:
        return float(run[key]) / run["events"] * 1e6

    wall, cpu = per_event(result, "total_seconds"), per_event(result, "cpu_seconds")
    return {
        "tools": tools,
        "events": result["events"],
        "build": built,
        "rebuild": result,
        "us_per_event": wall,
        "cpu_us_per_event": cpu,
        "demo_us_per_event": per_event(demo, "total_seconds"),
        "demo_cpu_us_per_event": per_event(demo, "cpu_seconds"),
        "vs_demo": wall / per_event(demo, "total_seconds"),
        "cpu_vs_demo": cpu / per_event(demo, "cpu_seconds"),
    }


# -- report -----------------------------------------------------------------------------------


def summarise(report: dict[str, Any]) -> None:
    """Same-run ratios, and whether each of issue 6's targets was met."""
    checks: dict[str, Any] = {}
    for backend, runs in report.get("votes", {}).items():
        for name in ("ledger_vs_naive", "ledger_vs_crud", "ledger_vs_unpromised"):
            target = TARGETS.get(f"{name}_{backend}")
            if target is not None:
                checks[f"{name}_{backend}"] = runs["ratios"][name] >= target
        p99 = runs["ledger"]["read_latency_ms"]["p99"]
        checks[f"read_p99_{backend}"] = p99 is not None and p99 <= TARGETS["read_p99_ms"]
    for backend, verdict in report.get("kill", {}).items():
        checks[f"kill9_{backend}"] = verdict["passed"]
    if "rebuild" in report:
        rebuild = report["rebuild"]
        best = max(rebuild["vs_raw"]["rebuild_total"], rebuild["vs_raw"].get("rebuild_jobs2", 0))
        checks["rebuild_vs_raw"] = best >= TARGETS["rebuild_vs_raw"]
        checks["rss_ratio"] = rebuild["rss_ratio"] <= TARGETS["rss_ratio"]
        if "catalog_size" in rebuild:
            vs_demo = rebuild["catalog_size"]["vs_demo"]
            checks["rebuild_catalog_vs_demo"] = vs_demo <= TARGETS["rebuild_catalog_vs_demo"]
    if "catalog" in report:
        import catalog_size

        checks.update(catalog_size.checks(report["catalog"]))
        report["catalog_targets"] = catalog_size.TARGETS
    report["targets"] = TARGETS
    report["checks"] = checks


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def table(report: dict[str, Any]) -> str:
    """The short table: throughput, read latency, kill -9, rebuild, memory."""
    setup = report["setup"]
    lines = [
        f"Verdict Ledger bench ({setup['commit']}): {setup['cpus']} CPUs shared by client and "
        f"server, {setup['server_workers']} server worker(s) each, "
        f"{setup['concurrency']} concurrent voters, "
        f"{setup['duration']:g} s measured per service in {setup['rounds']} interleaved slices "
        f"(each after {setup['warmup']:g} s warm-up); total {setup['seconds']:.0f} s",
    ]
    checks = report["checks"]
    votes = report.get("votes", {})
    backends = list(votes)
    if backends:
        lines += ["", f"{'durable votes/s over HTTP':34}" + "".join(f"{b:>12}" for b in backends)]
        for service in SERVICES:
            row = [votes[b].get(service, {}).get("votes_per_s") for b in backends]
            lines.append(f"  {LABELS[service]:32}" + "".join(_num(v, 12) for v in row))
        for ratio, label in (
            ("ledger_vs_naive", "ledger ÷ naive"),
            ("ledger_vs_crud", "ledger ÷ CRUD"),
            ("ledger_vs_unpromised", "promises ÷ none"),
        ):
            row = [votes[b].get("ratios", {}).get(ratio) for b in backends]
            goals = [
                f"≥{TARGETS[f'{ratio}_{b}']:g}x {b} {_mark(checks.get(f'{ratio}_{b}'))}"
                for b in backends
                if f"{ratio}_{b}" in TARGETS
            ]
            goal = "   target " + ", ".join(goals) if goals else ""
            lines.append(f"  {label:32}" + "".join(_ratio(v, 12) for v in row) + goal)
            spans = [votes[b]["ratios"][f"per_round_{ratio}"] for b in backends]
            lines.append(f"  {'  range over slices':32}" + "".join(_span(v, 12) for v in spans))
        lines += [
            "",
            f"{'server CPU µs per durable vote':34}" + "".join(f"{b:>12}" for b in backends),
        ]
        for service in SERVICES:
            row = [votes[b][service]["server_cpu_us_per_vote"] for b in backends]
            lines.append(f"  {LABELS[service]:32}" + "".join(_num(v, 12) for v in row))
        lines += [
            "",
            f"{'GET /v1/tools/{slug} ms, p50 / p99':34}" + "".join(f"{b:>16}" for b in backends),
        ]
        for service in SERVICES:
            cells = []
            for b in backends:
                lat = votes[b].get(service, {}).get("read_latency_ms", {})
                cells.append(f"{_ms(lat.get('p50'))} / {_ms(lat.get('p99'))}".rjust(16))
            note = ""
            if service == "ledger":
                note = "   target p99 ≤20 ms " + " ".join(
                    f"{b} {_mark(checks.get(f'read_p99_{b}'))}" for b in backends
                )
            lines.append(f"  {'during ' + service + ' writes':32}" + "".join(cells) + note)
    for backend, verdict in report.get("kill", {}).items():
        lines += [
            "",
            f"kill -9 mid-run ({backend}): {verdict['acknowledged']:,} acknowledged votes, "
            f"{verdict['problem_count']} lost/duplicated/altered, "
            f"{verdict['in_flight_stored']}/{verdict['in_flight_at_kill']} in-flight stored; "
            f"restarted tallies match: {verdict['restart_tallies_match']}  "
            f"{_mark(verdict['passed'])}",
        ]
    if "catalog" in report:
        import catalog_size

        lines += catalog_size.lines(report["catalog"], checks)
    if "rebuild" in report:
        lines += _rebuild_lines(report["rebuild"], checks)
    return "\n".join(lines)


def _rebuild_lines(rebuild: dict[str, Any], checks: dict[str, Any]) -> list[str]:
    rates, vs_raw = rebuild["rates"], rebuild["vs_raw"]
    labels = {
        "raw_read": "raw read (sqlite3 + orjson.loads)",
        "library_read": "library read (recorder + decode)",
        "catalog": "rebuild: catalog projection",
        "audit": "rebuild: audit projection",
        "rebuild_total": "rebuild: all (verdict rebuild)",
        "rebuild_jobs2": "rebuild: all, --jobs 2",
    }
    lines = [
        "",
        f"{'replay of ' + format(rebuild['events'], ',') + ' events (SQLite)':34}"
        f"{'events/s':>12}{'÷ raw':>10}",
    ]
    for key, value in rates.items():
        label = labels.get(key, f"rebuild: {key}")
        goal = ""
        if key == "rebuild_jobs2":
            goal = (
                f"   target ≥{TARGETS['rebuild_vs_raw']:g} (the better of the two) "
                f"{_mark(checks.get('rebuild_vs_raw'))}"
            )
        lines.append(f"  {label:32}{_num(value, 12)}{vs_raw[key]:>10.3f}" + goal)
    sizes = sorted(rebuild["rss_kib"], key=int)
    rss = ", ".join(f"{int(s):,} events {rebuild['rss_kib'][s] / 1024:.0f} MiB" for s in sizes)
    lines.append(
        f"  peak RSS of the rebuild: {rss}; ratio {rebuild['rss_ratio']:.2f}x"
        f"   target ≤{TARGETS['rss_ratio']:g}x {_mark(checks.get('rss_ratio'))}"
    )
    sized = rebuild.get("catalog_size")
    if sized is not None:
        lines += [
            f"  rebuild per event, {sized['tools']:,} tools ({sized['events']:,} events): "
            f"{sized['us_per_event']:.1f} µs (CPU {sized['cpu_us_per_event']:.1f}) vs "
            f"{sized['demo_us_per_event']:.1f} µs (CPU {sized['demo_cpu_us_per_event']:.1f}) "
            "at 6 tools",
            f"  rebuild per event, catalog ÷ demo{sized['vs_demo']:>22.2f}x (CPU "
            f"{sized['cpu_vs_demo']:.2f}x)   target ≤{TARGETS['rebuild_catalog_vs_demo']:g}x "
            f"{_mark(checks.get('rebuild_catalog_vs_demo'))}",
        ]
    return lines


def _num(value: float | None, width: int) -> str:
    return ("—" if value is None else f"{value:,.0f}").rjust(width)


def _ratio(value: float | None, width: int) -> str:
    return ("—" if value is None else f"{value:.2f}x").rjust(width)


def _span(values: list[float | None], width: int) -> str:
    found = [v for v in values if v is not None]
    return (f"{min(found):.1f}-{max(found):.1f}" if found else "—").rjust(width)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--duration", type=float, default=12.0, help="measured seconds per service and backend"
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="slices per service, interleaved (noise control)"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each slice")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent voters")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes per service (all alike)"
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events to rebuild")
    parser.add_argument(
        "--kill-after", type=float, default=4.0, help="seconds of load before kill -9"
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to leave out: votes, kill, catalog, rebuild",
    )
    parser.add_argument("--tools", type=int, default=5000, help="tools of the catalog ledger")
    parser.add_argument(
        "--catalog-events", type=int, default=1_500_000, help="events of the catalog ledger"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "VERDICT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a server where the bench may create and drop its own databases",
    )
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench", help="cached ledgers")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--report", type=Path, help="measure nothing: print the table of a run saved with --json"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(table(json.loads(args.report.read_text())))
        return 0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    load = Load(args.concurrency, args.warmup, args.duration)
    started = time.monotonic()
    report: dict[str, Any] = {
        "setup": {
            "cpus": os.cpu_count(),
            "concurrency": load.concurrency,
            "duration": load.duration,
            "warmup": load.warmup,
            "rounds": args.rounds,
            "backends": backends,
            "events": args.events,
            "catalog_tools": args.tools,
            "catalog_events": args.catalog_events,
            "server_workers": args.workers,
            "loadavg_at_start": os.getloadavg(),
            "commit": source_version(),
        }
    }
    if "postgres" in backends and not skip >= {"votes", "kill", "catalog"}:
        require_postgres(args.postgres_url)
    args.cache.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=args.cache))
    try:
        for name in backends:
            backend = Backend(name, args.postgres_url, run_dir, args.workers)
            if "votes" not in skip:
                _progress(f"votes: ledger, naive and CRUD on {name}, {args.rounds} rounds")
                report.setdefault("votes", {})[name] = measure_backend(backend, load, args.rounds)
            if "kill" not in skip:
                _progress(f"kill -9 check on {name}")
                kill_load = Load(load.concurrency, 0.0, args.kill_after + 5)
                report.setdefault("kill", {})[name] = kill_check(
                    backend, kill_load, args.kill_after
                )
            if "catalog" not in skip:
                from catalog_size import measure_catalog_size

                _progress(f"catalog size: {args.tools:,} tools vs 6 and the ceiling on {name}")
                report.setdefault("catalog", {})[name] = measure_catalog_size(
                    backend, load, args.rounds, args.tools, args.catalog_events, args.cache
                )
        if "rebuild" not in skip:
            _progress(f"rebuild of {args.events:,} events")
            sqlite = Backend("sqlite", args.postgres_url, run_dir, args.workers)
            report["rebuild"] = measure_rebuild(
                args.events, args.cache, sqlite, args.tools, args.catalog_events
            )
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    report["setup"]["seconds"] = time.monotonic() - started
    report["setup"]["loadavg_at_end"] = os.getloadavg()
    summarise(report)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def source_version() -> str:
    """The commit measured, and whether the working tree differed from it (read-only git)."""

    def git(*args: str) -> str:
        argv = ["git", *args]  # read-only git commands, git from PATH
        run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603
        return run.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"{head}+local changes" if dirty else head


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
