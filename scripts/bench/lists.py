#!/usr/bin/env python3
"""Time the pages and list answers that grow with the catalog (issue 17, deliverable 3):

    .venv/bin/python scripts/bench/lists.py [--tools N] [--requests N] [--rounds N] [--json PATH]

A SQLite ledger of `--tools` tools is built once through the aggregates and cached under
var/bench/ (the demo data, then tools listed with four verdicts each, a few ballots each and a
comparison for one tool in ten). `verdict serve` then runs on it as a person starts it (one
worker, projections in child processes, 127.0.0.1), and once every projection holds the whole
log, each path is fetched `--requests` times, in `--rounds` turns taken by every path in rotation
(each turn over one keep-alive connection, after three warm-up requests): the median and p90 of
send-to-last-byte, and the answer's size. The server is stopped
by its PID; the cached ledger stays."""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import UNLIMITED, Command, serve

from domain.application import Ledger
from domain.ballot import Ballot
from domain.comparison import Comparison
from domain.demo_data import TOOLS
from domain.panel import Panel
from domain.seeding import seed_demo
from domain.settings import Settings
from domain.tool import Tool

ROOT = Path(__file__).resolve().parents[2]
PATHS = (
    "/",
    "/v1/tools",
    "/feed.xml",
    "/v1/comparisons",
    "/v1/tools?order=panel",
    "/v1/tools?order=community&limit=50",
    "/?category=Category%207",
)
CATEGORIES = 20
SAVE_BATCH = 500
"""Tools per `Ledger.save` (each with its panel and ballots): one transaction each."""


def catalog(count: int, rng: random.Random) -> Iterator[list[Any]]:
    """Aggregates for `count` tools beyond the demo six, a batch at a time: each listed in one
    of CATEGORIES categories with a demo tool's texts, four verdicts, 0-6 ballots, and a
    comparison with the previous tool for one tool in ten."""
    batch: list[Any] = []
    for n in range(count):
        model = TOOLS[n % len(TOOLS)]
        slug = f"tool-{n:05d}"
        listing = {
            "name": f"{model.name} {n}",
            "category": f"Category {n % CATEGORIES}",
            "tagline": model.tagline,
            "description": model.description,
            "pricing": model.pricing,
        }
        panel = Panel.open(slug, "editor:bench")
        for v in model.verdicts:
            panel.publish(v.seat, v.reviewer, rng.choice(("ship", "skip")), v.text, "editor:bench")
        batch += [Tool.list(slug, listing, "editor:bench"), panel]
        for voter in range(rng.randint(0, 6)):
            batch.append(Ballot.cast(slug, f"voter:v{n}x{voter}", rng.choice(("ship", "skip"))))
        if n % 10 == 9:
            batch.append(Comparison.publish(f"tool-{n - 1:05d}", slug, "editor:bench"))
        if n % SAVE_BATCH == SAVE_BATCH - 1:
            yield batch
            batch = []
    if batch:
        yield batch


def build(path: Path, tools: int) -> int:
    """The cached ledger at `path` (built when absent); how many events it holds."""
    ledger = Ledger(Settings(database_url=f"sqlite:///{path}"))
    try:
        if not ledger.recorder.max_notification_id():
            seed_demo(ledger)
            for batch in catalog(tools - len(TOOLS), random.Random(17)):
                ledger.save(*batch)
        return int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()


def caught_up(port: int, end: int, timeout: float = 300.0) -> None:
    """Wait until every projection holds all `end` events (/readyz lists their positions): a
    projection still folding would share the CPU with the requests measured."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/readyz")
            body = json.loads(connection.getresponse().read())
            positions = [p["position"] for p in body.get("projections", {}).values()]
            if positions and min(positions) >= end:
                return
        finally:
            connection.close()
        time.sleep(0.5)
    raise RuntimeError(f"the projections did not reach position {end} within {timeout:.0f} s")


def timed(port: int, path: str, requests: int) -> tuple[list[float], int, int]:
    """Milliseconds of `requests` GETs of `path` over one keep-alive connection, after three
    warm-up requests; the last answer's size and status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    timings: list[float] = []
    size = status = 0
    try:
        for n in range(3 + requests):
            started = time.perf_counter()
            connection.request("GET", path)
            answer = connection.getresponse()
            body = answer.read()
            if n >= 3:
                timings.append((time.perf_counter() - started) * 1000)
            size, status = len(body), answer.status
    finally:
        connection.close()
    return timings, size, status


def measure(port: int, paths: Sequence[str], requests: int, rounds: int) -> list[dict[str, Any]]:
    """Each path in turn, `rounds` times, `requests // rounds` GETs a turn: whatever else the
    machine does weighs on every path alike."""
    samples: dict[str, list[float]] = {path: [] for path in paths}
    answers: dict[str, tuple[int, int]] = {}
    for _ in range(rounds):
        for path in paths:
            timings, size, status = timed(port, path, max(1, requests // rounds))
            samples[path] += timings
            answers[path] = (size, status)
    rows = []
    for path, timings in samples.items():
        timings.sort()
        rows.append(
            {
                "path": path,
                "status": answers[path][1],
                "bytes": answers[path][0],
                "p50_ms": round(statistics.median(timings), 2),
                "p90_ms": round(timings[int(0.9 * (len(timings) - 1))], 2),
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tools", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=50, help="per path, over all rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    cache = ROOT / "var" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    db = cache / f"lists-{args.tools}.db"
    started = time.monotonic()
    end = build(db, args.tools)
    print(f"{db}: {end} events ({time.monotonic() - started:.1f} s)", file=sys.stderr)
    env = {
        "VERDICT_DATABASE_URL": f"sqlite:///{db}",
        "VERDICT_VOTES_PER_MINUTE": UNLIMITED,
        "VERDICT_VOTER_REGISTRATIONS_PER_MINUTE": UNLIMITED,
    }
    command = Command([sys.executable, "-m", "api.server.cli", "serve"], env)
    with serve("lists", command, cache) as server:
        caught_up(server.port, end)
        print(f"served on port {server.port}, every projection at {end}", file=sys.stderr)
        rows = measure(server.port, PATHS, args.requests, args.rounds)
    print(f"{'path':40} {'status':>6} {'bytes':>10} {'p50 ms':>8} {'p90 ms':>8}")
    for row in rows:
        print(
            f"{row['path']:40} {row['status']:>6} {row['bytes']:>10} "
            f"{row['p50_ms']:>8.2f} {row['p90_ms']:>8.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"tools": args.tools, "events": end, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
