#!/usr/bin/env python3
"""How fast scripts/verify.py audits a large ledger, and in how much memory (issue 17):

    python scripts/bench/verify_speed.py DB [--skip export|http] [--json PATH] [--verify PY ...]

DB is a SQLite ledger whose views hold the whole log (scripts/bench/scale_ledger.py makes one:
5,000 tools, 1.5M events). A copy of it is served by `verdict serve` (127.0.0.1, stopped by its
PID); the ledger's export (`verdict export`, cached beside DB) is verified with `--export`, and
the service with its URL, each in a fresh process: wall-clock and CPU seconds, events per
second of each, and the peak RSS of that process alone (`wait4`), also per live ballot (the
community totals the service publishes: what the replay must hold in memory). CPU seconds say
more than wall-clock on a shared machine; both are printed. `--verify` (repeatable) times other
copies of the verifier too, e.g. main's (`git show main:scripts/verify.py > /tmp/v.py`), in the
same run against the same server: the baseline of a ratio. Over HTTP the server's CPU seconds
during each run (its process tree, from /proc) are printed too, per event audited;
`--served-from DIR` also serves the ledger from checkout DIR (e.g. a worktree of main) and times
DIR's verifier against it: the server's baseline in the same run."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import PYTHON, ROOT, UNLIMITED, Command, Server, serve

VERIFY = ROOT / "scripts" / "verify.py"


def export(db: Path) -> Path:
    """`verdict export` of DB, made once beside it (a cached ledger never changes)."""
    out = db.with_suffix(".export.ndjson")
    if out.exists():
        return out
    env = {**os.environ, "VERDICT_DATABASE_URL": f"sqlite:///{db}", "TQDM_DISABLE": "1"}
    partial = out.with_suffix(".partial")
    subprocess.run(  # noqa: S603 - our own CLI
        [PYTHON, "-m", "api.server.cli", "export", str(partial)], cwd=ROOT, env=env, check=True
    )
    partial.rename(out)
    return out


def timed_verify(*args: str, verify: Path = VERIFY) -> dict[str, Any]:
    """scripts/verify.py ARGS --json in a fresh process: its answer, wall and CPU seconds, and
    the peak RSS of that process alone."""
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own script
        [PYTHON, str(verify), *args, "--json"], cwd=ROOT, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    answer = json.loads(output.decode().strip().splitlines()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "ok": answer["ok"],
        "verdict": answer["verdict"],
        "events": answer["events"],
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "events_per_s": answer["events"] / wall,
        "events_per_cpu_s": answer["events"] / cpu,
        "peak_rss_bytes": usage.ru_maxrss * 1024,
    }


def timed_http(server: Server, verify: Path, extra: tuple[str, ...]) -> dict[str, Any]:
    """timed_verify of the server's URL, with the server's own CPU seconds meanwhile."""
    url = f"http://127.0.0.1:{server.port}"
    before = server.cpu_seconds()
    got = timed_verify(url, "--no-state", "--timeout", "300", *extra, verify=verify)
    got["server_cpu_seconds"] = server.cpu_seconds() - before
    return got


FROM_TREE = (
    "import os, runpy, sys; root = sys.argv.pop(1); os.chdir(root); sys.path.insert(0, root); "
    "runpy.run_module('api.server.cli', run_name='__main__', alter_sys=True)"
)
"""`python -c FROM_TREE DIR ARGS`: `verdict ARGS` with the code of checkout DIR."""


def live_ballots(port: int) -> int:
    """Ballots counted in the community tallies the service publishes, every tool."""
    total, path = 0, "/v1/tools?include_delisted=true&limit=100"
    while path:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as answer:
            page = json.loads(answer.read())
        total += sum(
            t["community"]["total"] + t["community"].get("voided", 0) for t in page["tools"]
        )
        path = page.get("next")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--skip", default="", help="export or http")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--verify", type=Path, action="append", default=[], help="another verify.py to time"
    )
    parser.add_argument(
        "--workers",
        default="1",
        help="this verify.py's --workers, each timed (e.g. 1,2; '' for its default, one process)",
    )
    parser.add_argument(
        "--served-from",
        type=Path,
        help="also serve the ledger from this checkout (e.g. a worktree of main) and time its "
        "verify.py over HTTP against it: the server's baseline, in the same run",
    )
    args = parser.parse_args(argv)
    skip = set(args.skip.split(","))
    db = args.db.resolve()
    run_dir = db.parent / f"verify-speed-{os.getpid()}"
    run_dir.mkdir()
    results: dict[str, Any] = {"db": str(db)}
    try:
        work = run_dir / "served.db"
        shutil.copyfile(db, work)
        env = {
            "VERDICT_DATABASE_URL": f"sqlite:///{work}",
            "VERDICT_VOTES_PER_MINUTE": UNLIMITED,
        }
        command = Command([PYTHON, "-m", "api.server.cli", "serve"], env)
        with serve("verify-speed", command, run_dir) as server:
            ballots = live_ballots(server.port)
            results["live_ballots"] = ballots
            runs = [
                (f" w{n}" if n else "", VERIFY, ("--workers", n) if n else ())
                for n in args.workers.split(",")
            ]
            runs += [(f" {p.name}", p, ()) for p in args.verify]
            for label, verify, extra in runs:
                if "export" not in skip:
                    got = timed_verify("--export", str(export(db)), *extra, verify=verify)
                    results["export" + label] = got
                if "http" not in skip:
                    results["http" + label] = timed_http(server, verify, extra)
        if args.served_from and "http" not in skip:
            tree = args.served_from.resolve()
            baseline = Command([PYTHON, "-c", FROM_TREE, str(tree), "serve"], env)
            with serve("verify-speed-baseline", baseline, run_dir) as server:
                verify = tree / "scripts" / "verify.py"
                results["http served from " + tree.name] = timed_http(server, verify, ())
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    print(f"{db.name}: {results['live_ballots']:,} live ballots")
    for mode, r in results.items():
        if isinstance(r, dict):
            print(
                f"  verify.py {mode:20}  {r['events']:,} events  {r['wall_seconds']:.1f} s wall "
                f"({r['events_per_s']:,.0f} events/s), {r['cpu_seconds']:.1f} s CPU "
                f"({r['events_per_cpu_s']:,.0f} events/CPU s), peak RSS "
                f"{r['peak_rss_bytes'] / 2**20:.0f} MiB = "
                f"{r['peak_rss_bytes'] / max(1, results['live_ballots']):.0f} bytes/live ballot  "
                f"{'OK' if r['ok'] else 'FAILED: ' + r['verdict']}"
            )
            if "server_cpu_seconds" in r:
                print(
                    f"  {'':31}server {r['server_cpu_seconds']:.1f} s CPU = "
                    f"{r['server_cpu_seconds'] / r['events'] * 1e6:.1f} µs per event"
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
