#!/usr/bin/env python3
"""How soon the ledger serves quorum-cosigned checkpoints under the vote benchmark's load: a
ledger started as a person starts it, with two `verdict witness` processes (quorum: both), is
driven the way scripts/bench/bench.py drives it while a poller watches `/v1/audit/checkpoint`.

    python scripts/bench/witnessed.py [--seconds S]

Prints durable votes/s and server CPU µs per vote, then how long a probe vote, cast again and
again beside the load, takes from its acknowledgement until its offline proof answers (the
proof rests on the newest checkpoint both witnesses cosigned)."""

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
from pathlib import Path

import bench

from api.bootstrap import open_runtime
from domain.settings import Settings

POLL_SECONDS = 0.05
PROBES = 1000
"""Voters kept for the probe votes (one vote each, so every probe is a new ballot)."""


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


def _status(request: urllib.request.Request) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - 127.0.0.1
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def probe(base: str, tokens: list[str], stop: threading.Event, lags: list[float]) -> None:
    """Cast a probe vote, then time from its acknowledgement until its offline proof (which
    rests on the newest quorum-cosigned checkpoint) answers: vote to witnessed, seen by a voter."""
    for token in tokens:
        if stop.is_set():
            return
        vote = urllib.request.Request(  # noqa: S310 - 127.0.0.1
            f"{base}/v1/tools/{bench.SLUGS[0]}/vote",
            data=b'{"choice":"ship"}',
            method="PUT",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        status, body = _status(vote)
        if status != 201:
            continue
        acknowledged = time.monotonic()
        position = json.loads(body)["receipt"]["position"]
        proof = urllib.request.Request(f"{base}/v1/audit/proofs/tlog-proof?position={position}")  # noqa: S310 - 127.0.0.1
        while not stop.wait(POLL_SECONDS):
            if _status(proof)[0] == 200:
                lags.append(time.monotonic() - acknowledged)
                break


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
        voters = bench.mint_voters(url, load.voters_needed() + PROBES)
        probes = [token for _, token in voters[-PROBES:]]
        server = stack.enter_context(bench.serve("witnessed", command, run_dir))
        lags: list[float] = []
        stop = threading.Event()
        base = f"http://127.0.0.1:{server.port}"
        watcher = threading.Thread(target=probe, args=(base, probes, stop, lags))
        watcher.start()
        try:
            out = bench.run_load(server, voters[:-PROBES], load, run_dir)
            time.sleep(2)
        finally:
            stop.set()
            watcher.join()
    ok = out["voters"]["ok"]
    print(f"votes/s {ok / args.seconds:.0f} | µs/vote {out['server_cpu_s'] / ok * 1e6:.0f}")
    lags.sort()
    if not lags:
        print("no probe vote reached a cosigned checkpoint")
        return
    median, p90 = lags[len(lags) // 2], lags[int(len(lags) * 0.9)]
    print(
        f"probe votes witnessed {len(lags)} | vote -> in a cosigned checkpoint: median "
        f"{median:.2f} s, p90 {p90:.2f} s, max {lags[-1]:.2f} s"
    )


if __name__ == "__main__":
    main()
