#!/usr/bin/env python3
"""Costs that should follow what changed, not the catalog's size (issue 17, item 2): the same
vote load on a 6-tool and on a 5,000-tool SQLite ledger, with the code before a change and
after it, all in one run:

    python scripts/bench/catalog_costs.py --before /path/to/checkout-of-main
        [--tools 5000] [--events 300000] [--duration 20] [--rounds 2] [--json PATH]

For each (tree, ledger): `verdict serve` of that tree (its code first on the path: PYTHONPATH and
PYTHONSAFEPATH, inherited by its projection processes) on a copy of the cached ledger, driven
by scripts/bench/load.py as scripts/bench/bench.py drives it (64 voters; votes spread over
every tool; a reader GETting a random tool every 10 ms), and beside it that tree's catalog
poller (scripts/bench/poller_cpu.py) over the same window. Figures: durable votes/s, the
reader's p50/p99, server CPU per vote, the poller's CPU share and documents read per refresh,
and votes/s at 5,000 tools ÷ votes/s at 6 (target ≥ 0.9). All four services run at once and
the load visits them in turn, `--rounds` slices each in rotating order, so the shared
machine's other work weighs on all alike.

Ledgers (built once, cached under var/bench/ as catalog-TOOLS-EVENTS.db): the demo data, then
TOOLS - 6 more tools with a verdict in every seat, then EVENTS ballot events spread over every
tool (scripts/bench/big_ledger.py), folded by `verdict rebuild`. Every process it starts is
stopped by its PID; copies are removed."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import bench
from bench import BENCH, PYTHON, ROOT, Load, combine, ledger_command, mint_voters, run_load, serve

TARGET_RATIO = 0.9
TARGET_READ_P99_MS = 20.0


def cached_ledger(cache: Path, tools: int, events: int) -> Path:
    """The folded ledger of `tools` tools and `events` ballot events, built on first use."""
    path = cache / f"catalog-{tools}-{events}.db"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    script = BENCH / "big_ledger.py"
    args = ["--tools", str(tools), "--events", str(events)]
    subprocess.run([PYTHON, str(script), str(building), *args], check=True, cwd=ROOT)  # noqa: S603 - our own script
    env = {"VERDICT_DATABASE_URL": f"sqlite:///{building}"}
    rebuild = [PYTHON, "-m", "api.server.cli", "rebuild"]
    subprocess.run(rebuild, check=True, cwd=ROOT, env={**os.environ, **env})  # noqa: S603 - our own command
    building.rename(path)
    return path


def slugs_of(path: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT slug FROM view_tools ORDER BY slug")]


def voters_for(slugs: list[str], load: Load, rounds: int) -> int:
    """Fresh (voter, tool) pairs for ~15k votes/s through every slice, however many tools."""
    votes = 15_000 * (load.warmup + load.duration) * rounds
    return max(load.concurrency * rounds, int(votes / len(slugs)) + 1)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    trees = {"before": args.before.resolve(), "after": ROOT}
    ledgers = {n: cached_ledger(args.cache, n, args.events) for n in (6, args.tools)}
    piece = Load(args.concurrency, args.warmup, args.duration / args.rounds)
    run_dir = Path(tempfile.mkdtemp(prefix="catalog-costs-"))
    combos = [(tree, tools) for tree in trees for tools in ledgers]
    slices: dict[tuple[str, int], list[dict[str, Any]]] = {c: [] for c in combos}
    try:
        with ExitStack() as stack:
            running = {}
            for tree, tools in combos:
                db = run_dir / f"{tree}-{tools}.db"
                shutil.copyfile(ledgers[tools], db)
                url = f"sqlite:///{db}"
                slugs = slugs_of(db)
                voters = mint_voters(url, voters_for(slugs, piece, args.rounds))
                command = ledger_command(url, group_commit=True, workers=1)
                path = {"PYTHONPATH": str(trees[tree]), "PYTHONSAFEPATH": "1"}
                command = dataclasses.replace(command, env={**command.env, **path})
                bench.SLUGS = slugs  # wait_ready and the load read bench's list of tools
                server = stack.enter_context(serve(f"{tree}-{tools}", command, run_dir))
                running[(tree, tools)] = (server, url, slugs, voters)
            for r in range(args.rounds):
                turn = r % len(combos)
                for combo in combos[turn:] + combos[:turn]:
                    server, url, slugs, voters = running[combo]
                    bench.SLUGS = slugs
                    probe = start_probe(trees[combo[0]], url, piece, run_dir, combo, r)
                    result = run_load(server, voters[r :: args.rounds], piece, run_dir)
                    if probe[0].wait(piece.duration + 60) != 0:
                        raise RuntimeError(f"poller probe failed for {combo}")
                    result["poller"] = json.loads(probe[1].read_text())
                    slices[combo].append(result)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return report(args, trees, slices)


def start_probe(
    tree: Path, url: str, load: Load, run_dir: Path, combo: tuple[str, int], r: int
) -> tuple[subprocess.Popen[str], Path]:
    """The tree's poller beside the service, set up, then started on the window run_load is
    about to measure (run_load starts its clock a second after it is called, then warms up):
    call run_load at once."""
    out = run_dir / f"poller-{combo[0]}-{combo[1]}-{r}.json"
    delay = 1.0 + load.warmup
    argv = [PYTHON, str(BENCH / "poller_cpu.py"), url, str(delay), str(load.duration), str(out)]
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1"}
    probe = subprocess.Popen(  # noqa: S603 - our own script
        argv, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert probe.stdin is not None
    assert probe.stdout is not None
    if probe.stdout.readline().strip() != "ready":
        raise RuntimeError(f"poller probe did not start for {combo}")
    probe.stdin.write("go\n")
    probe.stdin.flush()
    return probe, out


def report(
    args: argparse.Namespace,
    trees: dict[str, Path],
    slices: dict[tuple[str, int], list[dict[str, Any]]],
) -> dict[str, Any]:
    figures: dict[str, Any] = {"trees": {}, "config": {k: str(v) for k, v in vars(args).items()}}
    for tree, path in trees.items():
        commit = subprocess.run(  # noqa: S603 - git, fixed arguments
            ["git", "-C", str(path), "rev-parse", "--short", "HEAD"],  # noqa: S607 - git on PATH
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        by_size = {}
        for (t, tools), parts in slices.items():
            if t != tree:
                continue
            found = combine(parts, args.duration)
            polls = [p["poller"] for p in parts]
            refreshes = sum(p["refreshes"] for p in polls)
            found["poller_cpu_share"] = sum(p["cpu_per_s"] for p in polls) / len(polls)
            found["poller_documents_per_refresh"] = (
                sum(p["documents_read"] for p in polls) / refreshes if refreshes else None
            )
            for part in parts:
                part["voters"].pop("latencies_ms", None)
                part["reader"].pop("latencies_ms", None)
            by_size[str(tools)] = found
        small, large = by_size["6"], by_size[str(args.tools)]
        figures["trees"][tree] = {
            "commit": commit,
            "path": str(path),
            "by_tools": by_size,
            "votes_ratio": large["votes_per_s"] / small["votes_per_s"],
        }
    return figures


def table(figures: dict[str, Any], tools: int) -> str:
    lines = [
        "| figure (SQLite, same run) | before, 6 tools | before, "
        f"{tools:,} | after, 6 tools | after, {tools:,} |",
        "|---|---|---|---|---|",
    ]
    rows = [
        ("durable votes/s", lambda f: f"{f['votes_per_s']:,.0f}"),
        ("GET /v1/tools/{slug} p50 ms", lambda f: _ms(f["read_latency_ms"]["p50"])),
        ("GET /v1/tools/{slug} p99 ms", lambda f: _ms(f["read_latency_ms"]["p99"])),
        ("server CPU µs/vote", lambda f: f"{f['server_cpu_us_per_vote'] or 0:,.0f}"),
        ("poller CPU (share of a core)", lambda f: f"{100 * f['poller_cpu_share']:.1f} %"),
        ("poller documents per refresh", lambda f: _num(f["poller_documents_per_refresh"])),
    ]
    for label, cell in rows:
        cells = [
            cell(figures["trees"][tree]["by_tools"][str(n)])
            for tree in ("before", "after")
            for n in (6, tools)
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ratios = [figures["trees"][t]["votes_ratio"] for t in ("before", "after")]
    label = f"votes/s {tools:,} ÷ 6 (target ≥ {TARGET_RATIO})"
    lines.append(f"| {label} | | {ratios[0]:.2f} | | {ratios[1]:.2f} |")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the old code")
    parser.add_argument("--tools", type=int, default=5000)
    parser.add_argument("--events", type=int, default=300_000, help="ballot events per ledger")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds each")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each slice")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    figures = measure(args)
    print(table(figures, args.tools))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
