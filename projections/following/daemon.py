"""A loop in a daemon thread that runs until stopped: how the follower, the rebuild, the
PostgreSQL wake-up and the witness submitter start, stop and say whether they still run."""

from __future__ import annotations

import threading


class DaemonLoop:
    """`_run` loops until `_stop` is set; `stop()` sets it, cuts short any other wait the loop
    is in (`_interrupt`) and waits up to `timeout` for the thread to end."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._interrupt()
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        """False once the loop has ended: stopped, or killed by an unexpected error."""
        return self._thread.is_alive()

    def _interrupt(self) -> None:
        """Wake the loop from a wait on something other than `_stop` (none here)."""

    def _run(self) -> None:
        raise NotImplementedError
