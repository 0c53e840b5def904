"""A real `verdict serve` (or `verdict witness`) for tests: a subprocess on 127.0.0.1 whose
output goes to a file (a pipe nobody reads would fill with access logs and stall the server),
bounded in time, stopped by its handle."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.server.supervisor import stop
from domain.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ROOT = Path(__file__).parents[1]
START_SECONDS = 90.0
"""How long a started `verdict` command may take to answer: a PostgreSQL start under a fully
loaded 2-core machine took 28-30 s, so 30 s failed tests that had nothing wrong."""


@dataclass(frozen=True)
class Served:
    url: str
    editor_key: str | None
    """Printed on the first start only (None when the store was filled beforehand)."""
    settings: Settings

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


@contextmanager
def serving(settings: Settings, log: Path, **extra_env: str) -> Iterator[Served]:
    """`verdict serve` on `settings`' store, with rate limits out of the way of the tests; ready
    once its log has signed a checkpoint (so the demo data of a first start is in view)."""
    port = free_port()
    env = {
        **os.environ,
        "VERDICT_DATABASE_URL": settings.database_url,
        "VERDICT_VOTES_PER_MINUTE": "1000000",
        "VERDICT_VOTER_REGISTRATIONS_PER_MINUTE": "100000",
        **extra_env,
    }
    argv = ["serve", "--port", str(port)]
    with _running(argv, log, ROOT, env) as proc:
        url = f"http://127.0.0.1:{port}"
        _await(proc, log, "serve", f"{url}/v1/audit/checkpoint", 200)
        match = re.search(r"^(vle_\S+)$", log.read_text(), re.MULTILINE)
        yield Served(url, match[1] if match else None, settings)


@dataclass
class Witnessing:
    url: str
    """The submission prefix: POST {url}/add-checkpoint."""
    verifier_key: str
    """The first line it printed."""
    process: subprocess.Popen[bytes]


@contextmanager
def witnessing(
    state: Path | None,
    log_keys: Sequence[str],
    out: Path,
    name: str = "witness.example/w1",
    cwd: Path = ROOT,
) -> Iterator[Witnessing]:
    """`verdict witness` on 127.0.0.1 trusting `log_keys`, on the state file `state` (None: its
    default under `cwd`), its output in `out`; ready once it answers; stopped by its handle (if
    the test has not killed it already)."""
    port = free_port()
    argv = ["witness", "--listen", f"127.0.0.1:{port}", "--name", name]
    argv += [arg for key in log_keys for arg in ("--log", key)]
    argv += [] if state is None else ["--state", str(state)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with _running(argv, out, cwd, env) as proc:
        url = f"http://127.0.0.1:{port}"
        _await(proc, out, "witness", f"{url}/add-checkpoint", 405)
        yield Witnessing(url, out.read_text().splitlines()[0], proc)


@contextmanager
def _running(
    argv: list[str], log: Path, cwd: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """`verdict <argv>` with its output in `log`; stopped on leaving unless it has exited (or
    the test has killed it) already."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.server.cli", *argv],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        stop(proc, 10)


def _await(proc: subprocess.Popen[bytes], log: Path, command: str, url: str, status: int) -> None:
    """Until `url` answers `status`; fails if `verdict <command>` exits or START_SECONDS pass."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        assert proc.poll() is None, f"verdict {command} exited: {log.read_text()}"
        try:
            if httpx.get(url, timeout=2).status_code == status:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"verdict {command} not ready in {START_SECONDS} s"
        time.sleep(0.05)
