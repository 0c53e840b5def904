#!/usr/bin/env python3
"""Where a durable vote's server CPU goes, process by process and thread by thread (issue 17):
the bench's vote load on one ledger, and the CPU each process of the service and each of its
threads spent per vote over the window, from /proc.

    python scripts/bench/cpu_split.py [--ledger demo|catalog] [--backend sqlite|postgres]
        [--duration 20] [--warmup 3] [--json PATH]

`demo`: a fresh demo ledger (6 tools); `catalog`: a copy of the catalog-size ledger
(scripts/bench/scale_ledger.py, built first if absent), each voter voting on tools drawn from
all of it, as scripts/bench/catalog_size.py drives it. The service is `verdict serve` with one
worker, so its projections run in `verdict project NAME` children (named by their command
line). Python does not name its threads for the system, so a thread is its id; the API
process's main thread (its id is the process's) runs the event loop, and its busiest other
thread is, under this load, the vote writer (domain/persistence/group_commit.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import ROOT, SLUGS, Backend, Load, proc_stat, run_load
from catalog_size import build, catalog_slugs, start

DEFAULT_TOOLS = 5000
DEFAULT_EVENTS = 1_500_000


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each live thread of `pid` (user + system)."""
    found = {
        int(task.name): proc_stat(task / "stat")
        for task in Path(f"/proc/{pid}/task").glob("[0-9]*")
    }
    return {tid: stat[1] for tid, stat in found.items() if stat is not None}


def processes_of(root: int) -> dict[int, str]:
    """`root` and its children, each with its command line's last words (what it runs)."""
    found = {root: "api"}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        parent = proc_stat(stat)
        if parent is None or parent[0] != root:
            continue
        try:
            argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # it ended while we looked
        words = [w.decode() for w in argv if w]
        found[int(stat.parent.name)] = " ".join(words[words.index("project") :][:2])
    return found


def window_split(root: int, start_in: float, duration: float) -> dict[str, dict[int, float]]:
    """CPU seconds each thread of each process spent in the window [now + start_in, + duration]."""
    time.sleep(start_in)
    names = processes_of(root)
    before = {pid: thread_cpu(pid) for pid in names}
    time.sleep(duration)
    split: dict[str, dict[int, float]] = {}
    for pid, name in names.items():
        after = thread_cpu(pid)
        split[f"{name} ({pid})"] = {
            tid: cpu - before[pid].get(tid, 0.0) for tid, cpu in after.items()
        }
    return split


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cpu-split-") as run_dir:
        return _measure(args, Path(run_dir))


def _measure(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    backend = Backend(args.backend, args.postgres_url, run_dir)
    load = Load(args.concurrency, args.warmup, args.duration)
    built: dict[str, Any] = {}
    slugs = SLUGS
    if args.ledger == "catalog":
        built = build(backend, args.tools, args.events, args.cache)
        slugs = catalog_slugs(args.tools)
    with ExitStack() as stack:
        server, voters, _ = stack.enter_context(start(backend, args.ledger, load, built))
        split: dict[str, dict[int, float]] = {}

        def sample() -> None:
            split.update(window_split(server.pid, 1.0 + load.warmup, load.duration))

        sampler = threading.Thread(target=sample)
        sampler.start()
        result = run_load(server, voters, load, run_dir, slugs=slugs)
        sampler.join()
    votes = result["voters"]["ok"]
    per_vote = {
        process: {
            str(tid): 1e6 * cpu / votes for tid, cpu in sorted(threads.items(), key=lambda t: -t[1])
        }
        for process, threads in split.items()
    }
    return {
        "ledger": args.ledger,
        "backend": args.backend,
        "votes_per_s": votes / args.duration,
        "server_cpu_us_per_vote": 1e6 * result["server_cpu_s"] / votes,
        "us_per_vote": per_vote,
    }


def table(figures: dict[str, Any]) -> str:
    lines = [
        f"{figures['ledger']} on {figures['backend']}: {figures['votes_per_s']:,.0f} votes/s, "
        f"{figures['server_cpu_us_per_vote']:.0f} µs of server CPU a vote",
        "| process | thread | µs a vote |",
        "|---|---|---|",
    ]
    for process, threads in figures["us_per_vote"].items():
        total = sum(threads.values())
        lines.append(f"| {process} | all | {total:.0f} |")
        lines += [f"| | {tid} | {us:.0f} |" for tid, us in threads.items() if us >= 1]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", choices=("demo", "catalog"), default="catalog")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tools", type=int, default=DEFAULT_TOOLS)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "VERDICT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    figures = measure(args)
    print(table(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
