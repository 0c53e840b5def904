"""DaemonLoop: stop() ends the loop, waking it from its own waits, and is_alive says so."""

from __future__ import annotations

import threading

from projections.following.daemon import DaemonLoop


class Waiting(DaemonLoop):
    """Waits on an event of its own, as the follower waits on its wake-ups."""

    def __init__(self) -> None:
        self.woken = threading.Event()
        self.running = threading.Event()
        super().__init__("test-waiting")

    def _interrupt(self) -> None:
        self.woken.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.running.set()
            self.woken.wait()  # no timeout: only _interrupt ends this wait


def test_stop_interrupts_the_loop_and_it_ends() -> None:
    """A loop blocked on its own event ends on stop(), named as given, and is no longer alive."""
    loop = Waiting()
    loop.start()
    assert loop.running.wait(5)
    assert loop.is_alive()
    assert loop._thread.name == "test-waiting"
    assert loop._thread.daemon
    loop.stop(timeout=5)
    assert not loop.is_alive()
