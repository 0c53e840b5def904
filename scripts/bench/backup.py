#!/usr/bin/env python3
"""What `verdict backup` does to vote latency: votes over HTTP to a real `verdict serve` on a
SQLite ledger, before, during and after a backup of it.

    .venv/bin/python scripts/bench/big_ledger.py var/big.db --events 1000000
    .venv/bin/python scripts/bench/backup.py var/big.db --seconds 30 --voters 8
    .venv/bin/python scripts/bench/backup.py var/big.db --stepwise   # pages=256, for comparison

`--voters` threads each vote in a closed loop (a fresh voter, one vote, the next), so the
latencies are the service's. At a third of the run the backup starts (`verdict backup` as a
person runs it, or with `--stepwise` the backup API in steps of 256 pages in this process,
counting how often a write restarted it, given up after `--limit` seconds); the JSON printed
gives latency percentiles and votes/s for the votes that started before, during and after it,
and the backup's seconds."""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).parents[2]
SLUGS = ("smollm3", "claude-files-api", "smolvlm2-turbo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def voter(url: str, stop: threading.Event, seen: list[tuple[float, float]], n: int) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        i = 0
        while not stop.is_set():
            token = http.post("/v1/voters").json()["token"]
            started = time.monotonic()
            answer = http.put(
                f"/v1/tools/{SLUGS[(i + n) % 3]}/vote",
                json={"choice": "ship" if i % 2 else "skip"},
                headers={"Authorization": f"Bearer {token}"},
            )
            if answer.status_code == 201:
                seen.append((started, time.monotonic() - started))
            i += 1


def stats(latencies: list[float], seconds: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    if not ordered:
        return {"votes": 0}

    def ms(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {
        "votes": len(ordered),
        "votes_per_second": round(len(ordered) / seconds) if seconds else None,
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


class GaveUp(Exception):
    pass


def stepwise(source: Path, to: Path, limit: float) -> tuple[int, bool]:
    """The backup API in steps of 256 pages, given up after `limit` seconds: how many times a
    write restarted it, and whether it finished."""
    restarts, last, deadline = 0, None, time.monotonic() + limit

    def progress(status: int, remaining: int, total: int) -> None:
        nonlocal restarts, last
        if last is not None and remaining > last:
            restarts += 1
        last = remaining
        if time.monotonic() > deadline:
            raise GaveUp

    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(to)) as dst:
        try:
            src.backup(dst, pages=256, progress=progress)
        except GaveUp:
            return restarts, False
    return restarts, True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ledger", type=Path, help="a SQLite ledger file (it gets the votes)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--voters", type=int, default=8)
    parser.add_argument("--stepwise", action="store_true")
    parser.add_argument("--limit", type=float, default=60.0, help="--stepwise: give up after")
    args = parser.parse_args(argv)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "VERDICT_DATABASE_URL": f"sqlite:///{args.ledger.resolve()}",
        "VERDICT_VOTES_PER_MINUTE": "1000000",
        "VERDICT_VOTER_REGISTRATIONS_PER_MINUTE": "1000000",
        "VERDICT_ACCESS_LOG": "false",
    }
    work = Path(tempfile.mkdtemp(prefix="verdict-backup-bench-"))
    with (work / "serve.log").open("w") as log:
        server = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            [sys.executable, "-m", "api.server.cli", "serve", "--port", str(port), "--no-demo"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"verdict serve did not get ready: see {work}/serve.log")
            time.sleep(0.2)
        stop, seen = threading.Event(), list[tuple[float, float]]()
        threads = [
            threading.Thread(target=voter, args=(url, stop, seen, n)) for n in range(args.voters)
        ]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds / 3)
        backup_began = time.monotonic()
        to = work / "backup.db"
        restarts, finished, said = None, True, ""
        if args.stepwise:
            restarts, finished = stepwise(args.ledger, to, args.limit)
        else:
            said = subprocess.run(  # noqa: S603 - our own command
                [sys.executable, "-m", "api.server.cli", "backup", str(to)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        backup_ended = time.monotonic()
        time.sleep(max(0.0, began + args.seconds - time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        ended = time.monotonic()
    finally:
        server.terminate()
        server.wait(timeout=30)
    windows = {
        "before": (began, backup_began),
        "during": (backup_began, backup_ended),
        "after": (backup_ended, ended),
    }
    result: dict[str, Any] = {
        "mode": "stepwise, 256 pages" if args.stepwise else "verdict backup",
        "voters": args.voters,
        "backup_seconds": round(backup_ended - backup_began, 2),
        "backup_bytes": to.stat().st_size,
        "restarts": restarts,
        "finished": finished,
        "said": said,
    }
    for name, (start, end) in windows.items():
        result[name] = stats([lat for t, lat in seen if start <= t < end], end - start)
    to.unlink(missing_ok=True)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
