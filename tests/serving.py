"""A real `verdict serve` for tests: a subprocess on 127.0.0.1 whose output goes to a file (a
pipe nobody reads would fill with access logs and stall the server), bounded in time, stopped by
its handle."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from domain.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ROOT = Path(__file__).parents[1]
START_SECONDS = 30.0


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
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.server.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert proc.poll() is None, f"verdict serve exited: {log.read_text()}"
            try:
                if httpx.get(f"{url}/v1/audit/checkpoint", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"no checkpoint in {START_SECONDS} s"
            time.sleep(0.1)
        match = re.search(r"^(vle_\S+)$", log.read_text(), re.MULTILINE)
        yield Served(url, match[1] if match else None, settings)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
