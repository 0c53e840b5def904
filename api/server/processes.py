"""Long-running processes: start patiently, follow a projection until told to stop.

A worker that starts while the database restarts must wait for it rather than die: uvicorn stops
the whole server when a worker fails during start-up, and a projection worker that gave up would
leave its view behind for good. Once running, the follower loop retries database errors with
backoff (projections/following/follower.py) and the LISTEN connection is reopened when it drops
(projections/following/wakeup.py); every restart resumes from the tracked position, so a crash
at any instant costs time, never an event."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from eventsourcing.persistence import PersistenceError

from api.bootstrap import Runtime, open_runtime
from api.series import batch_observer
from domain.persistence.backoff import Backoff
from domain.settings import Settings
from projections.following.follower import IDLE_POLL_SECONDS

log = logging.getLogger("verdict.workers")

START_PATIENCE_SECONDS = 60.0
"""How long an API worker waits for the database at start-up before giving up."""
MAX_BACKOFF_SECONDS = 5.0
SQLITE_PROJECT_POLL_SECONDS = 0.05
"""How often `verdict project` looks for new events on SQLite, which cannot tell another process
that events were stored (PostgreSQL's NOTIFY does); under load it sets the batch size, and so
how often a projection commit takes the file's write lock from the vote writer
(docs/performance.md). Reads that must see a vote pass `min_position`."""
POSTGRES_BATCH_WINDOW_SECONDS = 0.05
"""On PostgreSQL every commit of a vote batch NOTIFYs `verdict project`; it folds what came in
this window at once rather than waking for each (FollowerThread's `batch_window`;
docs/performance.md)."""


def start_runtime(
    settings: Settings,
    follow: Sequence[str],
    *,
    patience: float | None = START_PATIENCE_SECONDS,
    stopped: Callable[[], bool] = lambda: False,
    poll_interval: float = IDLE_POLL_SECONDS,
    batch_window: float = 0.0,
) -> Runtime | None:
    """Open the runtime and follow the named projections, retrying while the database is
    unreachable; None if `stopped()` turned true first. After `patience` seconds (None: wait
    for ever) the last database error is raised."""
    deadline = None if patience is None else time.monotonic() + patience
    backoff = Backoff(0.2, MAX_BACKOFF_SECONDS)
    while not stopped():
        runtime: Runtime | None = None
        try:
            runtime = open_runtime(settings)
            if follow:
                runtime.follow(
                    follow,
                    on_batch=batch_observer,
                    poll_interval=poll_interval,
                    batch_window=batch_window,
                )
            return runtime
        except PersistenceError as error:
            if runtime is not None:
                runtime.close()
            delay = backoff.next()
            if deadline is not None and time.monotonic() + delay > deadline:
                raise
            log.warning("database unavailable at start (%s); retrying in %.1fs", error, delay)
            time.sleep(delay)
    return None


def run_projection(settings: Settings, name: str, parent: int | None = None) -> int:
    """`verdict project NAME`: follow one projection in this process until SIGTERM or SIGINT
    (exit 0), or until process `parent` is no longer its parent (exit 0: `verdict serve` died);
    exit 1 if its follower stops by itself (an unexpected error: let the supervisor restart
    the process)."""
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        log.info("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    postgres = settings.is_postgres
    runtime = start_runtime(
        settings,
        [name],
        patience=None,
        stopped=stop.is_set,
        poll_interval=IDLE_POLL_SECONDS if postgres else SQLITE_PROJECT_POLL_SECONDS,
        batch_window=POSTGRES_BATCH_WINDOW_SECONDS if postgres else 0.0,
    )
    if runtime is None:
        return 0
    try:
        followers = runtime.followers()
        position = followers[0].follower.projection.position
        log.info("following %s from log position %d", name, position, extra={"projection": name})
        while not stop.wait(1.0):
            if parent is not None and os.getppid() != parent:
                log.warning("projection %s: its server is gone; exiting", name)
                return 0
            if not all(f.is_alive() for f in followers):
                log.error("projection %s: follower stopped unexpectedly; exiting", name)
                return 1
    finally:
        runtime.close()
    log.info("projection %s stopped cleanly", name, extra={"projection": name})
    return 0
