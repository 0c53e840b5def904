"""Blue/green rebuilds: whatever the interleaving of votes, live follower commits, rebuild pages,
switch attempts and reader polls, a reader's position never goes back, every tool it has seen
listed is found in every later read, and after the switch the views are what a fresh fold of
the log gives; on both stores."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.bootstrap import Runtime, open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit.log import AUDIT, AuditProjection, CheckpointMismatch
from projections.catalog.fold import CATALOG_VERSION
from projections.catalog.poller import CatalogPoller
from projections.catalog.views import CATALOG, CatalogBuild, CatalogProjection
from projections.following.event_reader import EventReader
from projections.following.follower import Follower
from projections.following.rebuild import SwitchRefused, build_and_switch, rebuild_together
from tests.api.server.test_rebuilding import generations, snapshot
from tests.builders import restarted

STEPS = st.lists(
    st.sampled_from(["vote", "follow", "build", "switch", "read", "poll"]), min_size=1, max_size=40
)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    for projection in runtime.projections():
        Follower(runtime.ledger.recorder, projection).catch_up()
    yield runtime
    runtime.close()


class Reader:
    """Reads as the API does (one statement, and the polled snapshot) and checks each read
    against the ones before."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.poller = CatalogPoller(runtime.views)
        self.position = 0
        self.seen: set[str] = set()

    def read(self) -> None:
        found = self.runtime.views.tool_documents(CATALOG)
        self._check(found.position, {orjson.loads(d)["slug"] for d in found.docs})

    def poll(self) -> None:
        self.poller.refresh()
        assert self.poller.snapshot is not None
        self._check(self.poller.snapshot.position, set(self.poller.snapshot.tools))

    def _check(self, position: int, slugs: set[str]) -> None:
        assert position >= self.position, f"position went back: {self.position} -> {position}"
        assert self.seen <= slugs, f"listed tools not found: {self.seen - slugs}"
        self.position, self.seen = position, self.seen | slugs


@hypothesis_settings(max_examples=25)
@given(steps=STEPS)
def test_the_switch_is_atomic_and_monotone_under_any_interleaving(
    runtime: Runtime, steps: list[str]
) -> None:
    """Live follower and rebuild interleaved at random: readers never go back nor lose a tool;
    the switch happens once, at or past the serving position; the result equals a fresh fold."""
    recorder = runtime.ledger.recorder
    live = Follower(recorder, runtime.projection(CATALOG), page_size=3)
    building = CatalogProjection(runtime.views).beside()
    builder = Follower(recorder, building, page_size=4)
    reader = Reader(runtime)
    before = runtime.views.generations.read(CATALOG)
    assert before is not None and before.building == building.slot.generation
    voter = (recorder.max_notification_id() or 0) * 100
    switches = 0
    for step in [*steps, "finish"]:
        if step == "vote":
            voter += 1
            runtime.ledger.vote("smollm3", f"voter:v{voter}", "ship" if voter % 3 else "skip")
        elif step == "follow":
            live.catch_up()
        elif step == "build":
            page = builder.reader.page(building.position, builder.page_size)
            if page:
                expected = building.position
                building.apply_all(page)
                building.commit(expected)
        elif step == "switch":
            done = building.switch()
            assert done is not None
            switches += bool(done)
            if done:
                break
        elif step == "read":
            reader.read()
        elif step == "poll":
            reader.poll()
        else:  # finish the rebuild as `verdict rebuild` would, while the live follower waits
            switches += len(build_and_switch(recorder, [building], page_size=4))
        reader.read()
        reader.poll()
    assert switches == 1
    after = runtime.views.generations.read(CATALOG)
    assert after is not None
    assert (after.serving, after.building) == (building.slot.generation, None)
    live.catch_up()  # the live follower moves over to the new generation and goes on
    reader.read()
    built = snapshot(runtime.audit)
    rebuild_together(recorder, [CatalogProjection(runtime.views)], page_size=50)
    assert snapshot(runtime.audit) == built


def test_a_rebuild_killed_midway_resumes_its_generation_and_switches_once(
    runtime: Runtime,
) -> None:
    """A rebuild stopped after some pages (its process killed) resumes, from the same
    generation's tracked position, when begun again; the switch happens once."""
    recorder = runtime.ledger.recorder
    for i in range(60):
        runtime.ledger.vote("smollm3", f"voter:k{i}", "ship")
    first = CatalogProjection(runtime.views).beside()
    builder = Follower(recorder, first, page_size=10)
    for _ in range(3):
        page = builder.reader.page(first.position, 10)
        expected = first.position
        first.apply_all(page)
        first.commit(expected)
    reached = first.position
    del first, builder  # killed: nothing in memory survives
    resumed = CatalogProjection(runtime.views).beside()
    assert (resumed.slot.generation, resumed.position) == (
        runtime.views.generations.read(CATALOG).building,  # type: ignore[union-attr]  # row exists
        reached,
    )
    assert build_and_switch(recorder, [resumed], page_size=10) == {CATALOG: resumed.position}
    found = runtime.views.generations.read(CATALOG)
    assert found is not None and (found.serving, found.building) == (resumed.slot.generation, None)
    assert build_and_switch(recorder, [resumed], page_size=10) == {}, "switched once"


def test_a_tree_that_misses_a_checkpoint_is_never_served(runtime: Runtime) -> None:
    """A rebuilt audit tree that does not give a stored checkpoint's root: no switch, the
    serving tables untouched, the new generation dropped."""
    audit = runtime.audit
    before = snapshot(audit)
    serving = runtime.views.generations.read(AUDIT)
    latest = audit.latest_checkpoint()
    assert latest is not None and serving is not None
    with audit.db.transaction(commit=True) as c:
        c.execute(
            audit.db.sql("UPDATE audit_checkpoints SET root = ? WHERE size = ?"),
            (bytes(32), latest.size),
        )
    projection = AuditProjection(audit, runtime.signer, runtime.settings.log_origin)
    with pytest.raises(CheckpointMismatch):
        rebuild_together(runtime.ledger.recorder, [projection])
    after = snapshot(audit)
    assert after == before
    found = runtime.views.generations.read(AUDIT)
    assert found is not None and (found.serving, found.building) == (serving.serving, None)


def test_a_store_of_the_layout_before_generations_keeps_its_views(settings: Settings) -> None:
    """Plain tables under the unnumbered names (the layout before generations) become
    generation 1 at start, rows and positions kept, and a rebuild then switches as usual."""

    def old_layout(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
        seed_demo(runtime.ledger)
        for projection in runtime.projections():
            Follower(runtime.ledger.recorder, projection).catch_up()
        before = snapshot(runtime.audit)
        db = runtime.views.db
        with db.transaction(commit=True) as c:  # back to the old layout
            for table in (*runtime.views.layout.tables, *runtime.audit.layout.tables):
                c.execute(f"DROP VIEW {table}")
                c.execute(f"ALTER TABLE {table}_g1 RENAME TO {table}")
            c.execute("DROP TABLE view_generations")
        return before

    with restarted(settings, old_layout) as (runtime, before):
        assert snapshot(runtime.audit) == before
        found = runtime.views.generations.read(CATALOG)
        assert found is not None and (found.serving, found.building) == (1, None)
        rebuild_together(runtime.ledger.recorder, runtime.projections())
        assert snapshot(runtime.audit) == before
        assert runtime.views.generations.serving(CATALOG).generation == 2


def test_a_checkpoint_beyond_the_log_refuses_the_rebuild(runtime: Runtime) -> None:
    """A stored checkpoint larger than the whole log (events gone): the rebuilt tree never
    reaches it, so it is refused rather than waited for, and the serving tree stays."""
    audit = runtime.audit
    latest = audit.latest_checkpoint()
    assert latest is not None
    beyond = latest.size + 5
    audit.add_checkpoint(type(latest)(beyond, latest.root, latest.at, latest.note))
    serving = runtime.views.generations.serving(AUDIT)
    projection = AuditProjection(audit, runtime.signer, runtime.settings.log_origin)
    with pytest.raises(CheckpointMismatch) as refused:
        rebuild_together(runtime.ledger.recorder, [projection], page_size=7)
    assert refused.value.sizes == [beyond]
    assert runtime.views.generations.serving(AUDIT) == serving


def test_checkpoints_and_cosignatures_are_history_a_rebuild_keeps(runtime: Runtime) -> None:
    """The switch retires derived tables only: every checkpoint and every witness's cosignature
    and state are the same rows after a rebuild."""
    latest = runtime.audit.latest_checkpoint()
    assert latest is not None
    runtime.witnessed.cosigned("http://127.0.0.1:9/w", "w1", latest.size, "— w1 AAAA\n")
    db = runtime.audit.db
    history = ("audit_checkpoints", "audit_cosignatures", "audit_witnesses")

    def rows() -> dict[str, list[tuple[object, ...]]]:
        return {t: sorted(db.fetch_tuples(f"SELECT * FROM {t}")) for t in history}  # noqa: S608 - ours

    before = rows()
    assert all(before.values())
    rebuild_together(runtime.ledger.recorder, runtime.projections(), page_size=9)
    assert rows() == before


def test_a_build_holding_folds_past_its_commit_still_switches(runtime: Runtime) -> None:
    """A build handed over with the whole log folded in memory but not committed (its tables
    behind the serving ones): `build_and_switch` commits it from its last commit and switches,
    rather than asking the switch again and again (it once spun on the end of the log)."""
    recorder = runtime.ledger.recorder
    for i in range(30):
        runtime.ledger.vote("smollm3", f"voter:h{i}", "ship")
    Follower(recorder, CatalogProjection(runtime.views), page_size=10).catch_up()
    building = CatalogProjection(runtime.views).beside()
    building.apply_all(EventReader(recorder).page(building.position, 10_000))
    rounds = 0

    def bounded() -> bool:
        nonlocal rounds
        rounds += 1
        return rounds > 50

    end = recorder.max_notification_id()
    assert build_and_switch(recorder, [building], page_size=10, stopped=bounded) == {CATALOG: end}
    assert runtime.views.position(CATALOG) == end


def test_a_switch_refused_again_and_again_at_the_end_of_the_log_raises(runtime: Runtime) -> None:
    """A build whose switch is refused every time, with nothing left to fold or commit, raises
    SwitchRefused after a few rounds instead of asking for ever."""

    class NeverSwitches(CatalogBuild):
        def switch(self) -> bool | None:
            return False

    slot = CatalogProjection(runtime.views).beside().slot
    with pytest.raises(SwitchRefused):
        build_and_switch(runtime.ledger.recorder, [NeverSwitches(runtime.views, slot)])


@pytest.mark.postgres
def test_a_switch_waits_briefly_for_readers_and_never_deadlocks_with_one(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL: a reader's transaction holds one view while the switch repoints the views,
    then reads another view the switch had already taken in the old code: the switch gives way
    and tries again instead of deadlocking (PostgreSQL aborted one of the two, seen in the
    suite); the reader reads on, and once it is done the switch goes through."""
    caplog.set_level(logging.INFO, logger="projections.following.generations")
    settings = Settings(database_url=postgres_url)
    runtime = open_runtime(settings)
    try:
        seed_demo(runtime.ledger)
        for projection in runtime.projections():
            Follower(runtime.ledger.recorder, projection).catch_up()
        building = CatalogProjection(runtime.views).beside()
        Follower(runtime.ledger.recorder, building).catch_up()
        first, *_, last = runtime.layout(CATALOG).tables
        outcome: list[bool | None] = []
        switching = threading.Thread(target=lambda: outcome.append(building.switch()))
        with runtime.views.db.transaction(commit=False) as reader:
            reader.execute(f"SELECT count(*) FROM {last}")  # noqa: S608 - our names
            switching.start()
            time.sleep(0.5)  # the switch is now waiting for (or giving way to) the reader
            reader.execute(f"SELECT count(*) FROM {first}")  # noqa: S608 - our names
            assert reader.fetchone() is not None
            assert outcome == [], "the switch went through while a reader held a view"
        switching.join(timeout=30)
        assert outcome == [True]
        assert "readers held the views" in caplog.text, "the switch never met the reader"
        assert generations(settings)[:3] == (building.slot.generation, CATALOG_VERSION, None)
    finally:
        runtime.close()
