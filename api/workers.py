"""Long-running processes: start patiently, follow a projection until told to stop.

A worker that starts while the database restarts must wait for it rather than die: uvicorn
stops the whole server when a worker fails during start-up, and a projection worker that gave
up would leave its view behind for good. Once running, the follower loop retries database
errors with backoff (projections/follower.py) and the LISTEN connection is reopened when it
drops (projections/wakeup.py); every restart resumes from the tracked position, so a crash at
any instant costs time, never an event."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from eventsourcing.persistence import PersistenceError

from api import metrics
from api.bootstrap import Runtime, open_runtime
from domain.settings import Settings

log = logging.getLogger("verdict.workers")

START_PATIENCE_SECONDS = 60.0
"""How long an API worker waits for the database at start-up before giving up."""
MAX_BACKOFF_SECONDS = 5.0


def start_runtime(
    settings: Settings,
    follow: Sequence[str],
    *,
    patience: float | None = START_PATIENCE_SECONDS,
    stopped: Callable[[], bool] = lambda: False,
) -> Runtime | None:
    """Open the runtime and follow the named projections, retrying while the database is
    unreachable; None if `stopped()` turned true first. After `patience` seconds (None: wait
    for ever) the last database error is raised."""
    deadline = None if patience is None else time.monotonic() + patience
    backoff = 0.2
    while not stopped():
        runtime: Runtime | None = None
        try:
            runtime = open_runtime(settings)
            if follow:
                runtime.follow(follow, on_batch=metrics.batch_observer)
            return runtime
        except PersistenceError as error:
            if runtime is not None:
                runtime.close()
            if deadline is not None and time.monotonic() + backoff > deadline:
                raise
            log.warning("database unavailable at start (%s); retrying in %.1fs", error, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    return None


def run_projection(settings: Settings, name: str) -> int:
    """`verdict project NAME`: follow one projection in this process until SIGTERM or SIGINT
    (exit 0); exit 1 if its follower stops by itself (an unexpected error: let the supervisor
    restart the process)."""
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        log.info("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runtime = start_runtime(settings, [name], patience=None, stopped=stop.is_set)
    if runtime is None:
        return 0
    try:
        followers = runtime.followers()
        position = followers[0].follower.projection.position
        log.info("following %s from log position %d", name, position, extra={"projection": name})
        while not stop.wait(1.0):
            if not all(f.is_alive() for f in followers):
                log.error("projection %s: follower stopped unexpectedly; exiting", name)
                return 1
    finally:
        runtime.close()
    log.info("projection %s stopped cleanly", name, extra={"projection": name})
    return 0
