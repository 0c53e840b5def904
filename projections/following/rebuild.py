"""Rebuild a projection from the first event beside the serving one, then switch (blue/green).

A rebuild fills a new generation of the projection's tables (projections/following/
generations.py) page by page, committing whenever the projection says a commit is due (the
catalog: every BUILD_EVENTS_PER_TOOL, 128, events per tool, so a commit's writes per tool are
a fixed share of the work at any catalog size), so what it holds between commits is bounded
per tool (it grows with the catalog, never with the log) and a rebuild killed at any point
resumes from its last commit. Readers meanwhile get the serving
generation, untouched (a live follower keeps it current). Once the new generation has read the
log to its end, is at or past the serving position and has passed its checks (the audit log:
every stored checkpoint), one transaction makes it the serving one and retires the old tables,
which the janitor then empties and drops in short transactions (GenerationTable.sweep)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from eventsourcing.persistence import ApplicationRecorder, PersistenceError

from projections.following.daemon import DaemonLoop
from projections.following.event_reader import EventReader
from projections.following.follower import Projection, RetrySchedule
from projections.following.generations import RefusedGeneration, Slot, StaleGeneration
from projections.following.tracking import StaleProjection
from projections.records import LedgerEvent

log = logging.getLogger(__name__)


class Building(Projection, Protocol):
    """A projection filling a generation that does not serve yet."""

    slot: Slot
    committed: int
    """The log position its tables hold: where it last committed (or loaded). It folds on in
    memory past it until `due()` or the end of the log."""

    def due(self) -> bool:
        """Whether to commit what it folded since its last commit before the end of the log
        (a commit costs what it writes, and some projections write less by waiting)."""

    def check(self, log_end: Callable[[], int]) -> None:
        """Raise if what it built must not serve (e.g. a checkpoint it does not reproduce)."""

    def switch(self) -> bool | None:
        """Serve it now if caught up: True, False (not yet), None (no longer being built)."""

    def abandon(self) -> None:
        """Retire its tables (the janitor drops them): its check failed."""


class Rebuildable(Projection, Protocol):
    def beside(self) -> Building:
        """The projection building (or resuming) a new generation for the running version."""

    def sweep(self) -> None:
        """Empty and drop the tables its switches retired, in short transactions (the
        janitor): after the switch, so the switch itself stays one short transaction."""


def read_events(
    recorder: ApplicationRecorder, after: int = 0, page_size: int = 10_000
) -> Iterator[LedgerEvent]:
    """Every stored event after `after`, in log order, read in pages (memory stays bounded)."""
    reader = EventReader(recorder)
    while page := reader.page(after, page_size):
        yield from page
        after = page[-1].position


def rebuild(
    recorder: ApplicationRecorder,
    projection: Rebuildable,
    *,
    page_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    sweep: bool = True,
) -> int:
    """Rebuild `projection` beside its serving tables and switch; `projection` then follows the
    new generation. Returns the position of the switch."""
    return rebuild_together(
        recorder, [projection], page_size=page_size, progress=progress, sweep=sweep
    )


def rebuild_together(
    recorder: ApplicationRecorder,
    projections: Sequence[Rebuildable],
    *,
    page_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    sweep: bool = True,
) -> int:
    """`rebuild` of several projections in one pass: each page of the log is read and decoded
    once and folded into every new generation (reading is a fair share of a replay's cost).
    Then, unless `sweep` is False (the caller sweeps, e.g. to time it apart), the janitor drops
    the old tables."""
    switched = build_and_switch(
        recorder, [p.beside() for p in projections], page_size=page_size, progress=progress
    )
    for projection in projections:
        projection.reload()
        projection.caught_up()  # the audit log signs what it now serves, if not signed yet
    for projection in projections if sweep else ():
        projection.sweep()
    return max(switched.values(), default=0)


def build_and_switch(
    recorder: ApplicationRecorder,
    builds: Sequence[Building],
    *,
    page_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """Fold the log into each building generation from where it committed, and switch each to
    serving once it has read the log to its end (a short page) and is at or past the serving
    position; returns the position each switched at. One whose generation another process
    switched or replaced meanwhile is left to it. A failed check (CheckpointMismatch) retires
    that generation and is raised: the serving one stays as it was. Each build commits when
    it is `due()` and at the end of the log, so a rebuild killed (or `stopped()`) between
    commits resumes from the last one. Returns early, switching nothing more, once
    `stopped()`."""
    reader = EventReader(recorder)
    pending = list(builds)
    idle = {b.name: 0 for b in builds}
    """Refused switches in a row of a build that neither folded nor committed since the last."""
    switched: dict[str, int] = {}
    while pending and not stopped():
        after = min(b.position for b in pending)
        page = reader.page(after, page_size)
        end = len(page) < page_size
        moved: set[str] = set()
        for build in list(pending):
            fresh = page
            if page and page[0].position <= build.position:
                fresh = [e for e in page if e.position > build.position]
            if fresh:
                build.apply_all(fresh)
                moved.add(build.name)
                idle[build.name] = 0
            if build.position == build.committed or not (end or build.due()):
                continue
            try:
                build.commit(build.committed)
            except StaleGeneration:
                log.info("%s: generation %d finished elsewhere", build.name, build.slot.generation)
                pending.remove(build)
            except StaleProjection:  # another process builds it too: go on from its commit
                build.reload()
        if page and progress is not None:
            progress(len(page))
        if end:
            for build in list(pending):
                build.caught_up()
                try:
                    build.check(lambda: recorder.max_notification_id() or 0)
                except RefusedGeneration:
                    build.abandon()
                    raise
                done = build.switch()
                if done is None:
                    pending.remove(build)
                elif done:
                    log.info(
                        "%s: switched to generation %d at log position %d",
                        build.name,
                        build.slot.generation,
                        build.position,
                        extra={"projection": build.name},
                    )
                    switched[build.name] = build.position
                    pending.remove(build)
                elif build.name not in moved:  # else events came meanwhile: the next page has them
                    idle[build.name] += 1
                    if idle[build.name] > MOST_IDLE_REFUSALS:
                        raise SwitchRefused(
                            f"{build.name}: generation {build.slot.generation} at position "
                            f"{build.position} was refused the switch {idle[build.name]} times "
                            "at the end of the log"
                        )
    return switched


MOST_IDLE_REFUSALS = 3
"""Switches a build may be refused in a row with nothing folded in between; the next one raises
SwitchRefused: at the end of the log, with its folds committed, a build is at or past the
serving position, so one refusal means something changed meanwhile (a checkpoint signed, events
the next page reads) and several mean the next round will not differ."""


class SwitchRefused(RuntimeError):
    """A build at the end of the log whose switch was refused again and again: a bug, raised
    rather than asking the same question for ever."""


class RebuildThread(DaemonLoop):
    """Rebuilds one projection beside the serving tables in a daemon thread (a service started
    with folds of a new version), retrying database errors; `on_switched` runs once it serves."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        projection: Rebuildable,
        *,
        retry: RetrySchedule,
        on_switched: Callable[[], None] = lambda: None,
    ) -> None:
        self.recorder = recorder
        self.projection = projection
        self.retry = retry
        self.on_switched = on_switched
        super().__init__(f"rebuild-{projection.name}")

    def _run(self) -> None:
        name = self.projection.name
        while not self._stop.is_set():
            try:
                build = self.projection.beside()
                log.warning(
                    "%s: the folds' version differs from the serving views'; rebuilding "
                    "generation %d beside them from log position %d (the old views serve "
                    "meanwhile)",
                    name,
                    build.slot.generation,
                    build.position,
                    extra={"projection": name},
                )
                if build_and_switch(self.recorder, [build], stopped=self._stop.is_set):
                    self.on_switched()
                    self.projection.sweep()
                return
            except PersistenceError as error:
                delay = self.retry.next()
                log.warning("%s rebuild: database error, retrying in %.1fs: %s", name, delay, error)
                self._stop.wait(delay)
            except (RefusedGeneration, SwitchRefused) as error:
                log.error("%s rebuild refused, the serving views stay: %s", name, error)
                return
