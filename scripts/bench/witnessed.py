#!/usr/bin/env python3
"""How soon the ledger serves quorum-cosigned checkpoints under the vote benchmark's load: a
ledger started as a person starts it, with two `verdict witness` processes (quorum: both), is
driven the way scripts/bench/bench.py drives it while a poller watches `/v1/audit/checkpoint`.

    python scripts/bench/witnessed.py [--seconds S]

Prints durable votes/s and server CPU µs per vote, then, over the checkpoints served, how long
after its signing (its `at`) each was first seen served with both cosignatures."""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

import bench

from api.bootstrap import open_runtime
from domain.settings import Settings

POLL_SECONDS = 0.05


@contextmanager
def witness(run_dir: Path, name: str, log_key: str) -> Iterator[dict[str, str]]:
    """`verdict witness` on 127.0.0.1 trusting `log_key`: its `{url, verifier_key}`."""
    port = bench.free_port()
    out = run_dir / f"{name}.out"
    argv = [bench.PYTHON, "-m", "api.server.cli", "witness", "--listen", f"127.0.0.1:{port}"]
    argv += ["--name", name, "--log", log_key, "--state", str(run_dir / f"{name}.db")]
    with out.open("w") as sink:
        process = subprocess.Popen(argv, cwd=bench.ROOT, stdout=sink, stderr=subprocess.STDOUT)  # noqa: S603 - our own command
    try:
        deadline = time.monotonic() + 30
        while not out.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"verdict witness did not start: {out.read_text()}")
            time.sleep(0.1)
        yield {"url": f"http://127.0.0.1:{port}", "verifier_key": out.read_text().split()[0]}
    finally:
        process.terminate()
        process.wait(10)


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - 127.0.0.1
            body: bytes = answer.read()
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def watch(base: str, stop: threading.Event, lags: list[float]) -> None:
    """Each newly served checkpoint: seconds from its signing to now (both clocks: this host)."""
    seen: set[int] = set()
    while not stop.wait(POLL_SECONDS):
        note = _get(base + "/v1/audit/checkpoint")
        if note is None:
            continue
        size = int(note.split(b"\n")[1])
        if size in seen:
            continue
        seen.add(size)
        listed = _get(f"{base}/v1/audit/checkpoints?after={size - 1}&limit=1")
        if listed is not None:
            signed = json.loads(listed)["checkpoints"][0]["at"]
            lags.append(time.time() - datetime.fromisoformat(signed).timestamp())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured")
    args = parser.parse_args()
    load = bench.Load(64, 1.0, args.seconds)
    with tempfile.TemporaryDirectory(prefix="verdict-witnessed-") as tmp, ExitStack() as stack:
        run_dir = Path(tmp)
        url = f"sqlite:///{run_dir}/ledger.db"
        runtime = open_runtime(Settings(database_url=url))
        log_key = runtime.signer.verifier_key
        runtime.close()
        witnesses = [stack.enter_context(witness(run_dir, f"w{n}.bench", log_key)) for n in (1, 2)]
        command = bench.ledger_command(url, group_commit=True, workers=1)
        env = {**command.env, "VERDICT_WITNESSES": json.dumps(witnesses)}
        command = bench.Command(command.argv, env, command.helpers)
        voters = bench.mint_voters(url, load.voters_needed())
        server = stack.enter_context(bench.serve("witnessed", command, run_dir))
        lags: list[float] = []
        stop = threading.Event()
        watcher = threading.Thread(
            target=watch, args=(f"http://127.0.0.1:{server.port}", stop, lags)
        )
        watcher.start()
        try:
            out = bench.run_load(server, voters, load, run_dir)
            time.sleep(2)
        finally:
            stop.set()
            watcher.join()
    ok = out["voters"]["ok"]
    print(f"votes/s {ok / args.seconds:.0f} | µs/vote {out['server_cpu_s'] / ok * 1e6:.0f}")
    lags.sort()
    if not lags:
        print("no cosigned checkpoint was served")
        return
    median, p90 = lags[len(lags) // 2], lags[int(len(lags) * 0.9)]
    print(
        f"cosigned checkpoints served {len(lags)} | signed -> served: median {median:.2f} s, "
        f"p90 {p90:.2f} s, max {lags[-1]:.2f} s"
    )


if __name__ == "__main__":
    main()
