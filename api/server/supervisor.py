"""`verdict serve`'s projection workers: each projection followed by a `verdict project NAME`
process of its own beside the API process, restarted if it dies, stopped with the server.

Followed by threads inside the API process, the projections competed with the event loop for
the GIL; in processes of their own they use the other core, and the API process only answers
requests (docs/performance.md). A worker checks every second that `verdict serve` is its
parent still, so a `kill -9` of the server leaves no worker behind for long."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from domain.persistence.backoff import Backoff

log = logging.getLogger("verdict.workers")

CHECK_SECONDS = 0.5
"""How often the supervisor looks at its workers."""
FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STOP_SECONDS = 15.0


def stop(process: subprocess.Popen[Any], seconds: float = STOP_SECONDS) -> None:
    """SIGTERM (a child of ours commits what it holds and exits), then SIGKILL if it has not
    exited within `seconds`: how the scripts and tests stop the commands they start."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(seconds)


class ProjectionWorkers:
    """One `verdict project NAME` child per name, with this process's environment (the same
    VERDICT_* settings); the tables already exist (serve created them), so workers do not race
    to create them."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._started: dict[str, float] = {}
        self._thread = threading.Thread(target=self._supervise, name="projections", daemon=True)

    def start(self) -> None:
        for name in self.names:
            self.processes[name] = self._spawn(name)
        self._thread.start()

    def stop(self) -> None:
        """SIGTERM every worker (each commits its batch and exits 0), SIGKILL any that hangs."""
        self._stop.set()
        self._thread.join()
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes.items():
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("projection worker %s did not stop; killing it", name)
                process.kill()
                process.wait()

    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        self._started[name] = time.monotonic()
        env = {**os.environ, "VERDICT_CREATE_TABLES": "false"}
        argv = [
            sys.executable,
            "-m",
            "api.server.cli",
            "project",
            name,
            "--parent",
            str(os.getpid()),
        ]
        return subprocess.Popen(argv, env=env)  # noqa: S603 - our own command, fixed arguments

    def _supervise(self) -> None:
        """Restart a worker that exited, after a delay that doubles while it keeps dying soon
        after each start."""
        delays = {name: Backoff(FIRST_RESTART_DELAY, MAX_RESTART_DELAY) for name in self.names}
        while not self._stop.wait(CHECK_SECONDS):
            for name, process in self.processes.items():
                code = process.poll()
                if code is None:
                    continue
                if time.monotonic() - self._started[name] > 2 * MAX_RESTART_DELAY:
                    delays[name].reset()
                delay = delays[name].next()
                log.warning(
                    "projection worker %s exited with %s; restarting it in %.0f s",
                    name,
                    code,
                    delay,
                    extra={"projection": name},
                )
                if self._stop.wait(delay):
                    return
                self.processes[name] = self._spawn(name)
