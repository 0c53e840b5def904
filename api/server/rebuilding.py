"""`verdict rebuild`: every projection rebuilt from the first event beside its serving views,
then switched (projections/following/rebuild.py), so a live service keeps answering from the old
views meanwhile. A rebuild killed at any point resumes, when run again, where it committed.

By default one process reads the log once and folds each page into every projection
(`rebuild_together`). With `jobs` > 1 this process rebuilds the first projection while spawned
children rebuild the others: they share nothing but the event log (each has its own tables and
tracking row), so on a spare core the wall-clock time is that of the slower one, not the sum.
Children are spawned, not forked (a forked connection pool is not safe), open their own
connections, and commit page by page under compare-and-set like any follower. Each rebuilding
process first freezes its start-up heap out of the garbage collector's sight
(api/server/collector.py): a replay keeps a page of events alive at a time, and without it full
scans of the imports cost a quarter of the time."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace

from api.bootstrap import PROJECTIONS, Runtime, open_runtime
from api.server.collector import collector_paused, settle_garbage_collector
from domain.settings import Settings
from projections.following.rebuild import rebuild, rebuild_together

PROGRESS_POLL_SECONDS = 0.5
"""How often the parent reads the children's tracked sizes for its progress bar."""


@dataclass(frozen=True)
class Rebuilt:
    name: str
    position: int
    """The log position the projection was rebuilt to."""
    seconds: float
    """Its own time: from its reset to its switch (connections and imports left out)."""
    sweep_seconds: float = 0.0
    """The janitor's time after it: emptying and dropping the tables the switch retired."""


def rebuild_views(
    runtime: Runtime, *, jobs: int, progress: Callable[[int], None] | None = None
) -> list[Rebuilt]:
    """Rebuild every projection of an open runtime (PROJECTIONS order), in `jobs` processes;
    `progress` is told how many events the slowest projection advanced by. With several
    processes this one rebuilds the first projection (the catalog, the longest) itself while
    children rebuild the others: it is ready at once, a child first spends ~0.5 s importing."""
    settle_garbage_collector()
    if jobs <= 1:
        started = time.perf_counter()
        projections = runtime.projections()
        with collector_paused():
            position = rebuild_together(
                runtime.ledger.recorder, projections, progress=progress, sweep=False
            )
        seconds = time.perf_counter() - started
        return [Rebuilt(p.name, position, seconds, _swept(runtime, p.name)) for p in projections]
    names = list(PROJECTIONS)
    shown = 0

    def report(_: int = 0) -> None:
        nonlocal shown
        if progress is not None:
            building = runtime.rebuilding()
            end = runtime.ledger.recorder.max_notification_id() or 0
            reached = min(building.get(n, {"position": end})["position"] for n in names)
            if reached > shown:
                progress(reached - shown)
                shown = reached

    first, *others = names
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(jobs - 1, len(others)), mp_context=spawn) as pool:
        futures = [pool.submit(rebuild_one, runtime.settings, name) for name in others]
        started = time.perf_counter()
        with collector_paused():
            position = rebuild(
                runtime.ledger.recorder, runtime.projection(first), progress=report, sweep=False
            )
        here = Rebuilt(first, position, time.perf_counter() - started)
        while True:
            done, pending = wait(
                futures, timeout=PROGRESS_POLL_SECONDS, return_when=FIRST_EXCEPTION
            )
            report()
            if not pending or any(f.exception() for f in done):
                break
        built = [here, *(future.result() for future in futures)]
        return [replace(r, sweep_seconds=_swept(runtime, r.name)) for r in built]


def rebuild_one(settings: Settings, name: str) -> Rebuilt:
    """One projection, in this process, from its own connections (a child's entry point)."""
    runtime = open_runtime(settings.model_copy(update={"create_tables": False}))
    settle_garbage_collector()
    try:
        started = time.perf_counter()
        with collector_paused():
            position = rebuild(runtime.ledger.recorder, runtime.projection(name), sweep=False)
        return Rebuilt(name, position, time.perf_counter() - started)
    finally:
        runtime.close()


def _swept(runtime: Runtime, name: str) -> float:
    """The janitor's time for what projection `name`'s switch retired (after its rebuild is
    timed: a rebuild is done once the new generation serves). By its layout, so no projection
    is loaded for it (a catalog projection reads every document when made)."""
    started = time.perf_counter()
    runtime.views.generations.sweep_after(runtime.layout(name))
    return time.perf_counter() - started


def default_jobs() -> int:
    """One process: it reads the log once for every projection and needs no spare core. Two
    processes (this one folding the catalog, a child the audit log) won with a core mostly
    free (sqlite, 1M events, same window: 9.0-10.4 -> 6.5-6.6 s) but can lose when another
    program keeps both cores busy (10.8 -> 16.2 s once), and they read the log twice;
    `--jobs 2` is for machines with a core to spare."""
    return 1
