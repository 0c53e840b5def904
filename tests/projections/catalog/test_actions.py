"""The index of editorial actions (view_actions): every event an editor wrote, none a voter
wrote, in log order, each at its own position and leaf index."""

from __future__ import annotations

import time

from hypothesis import assume, given, settings

from api.bootstrap import Runtime
from domain.seeding import SEED_ACTOR, seed_demo
from domain.settings import Settings
from projections.catalog.fold import Catalog
from projections.catalog.views import CATALOG
from projections.records import LedgerEvent
from tests.builders import restarted
from tests.strategies import catalog_events


@settings(max_examples=300)
@given(catalog_events)
def test_actions_are_every_event_of_an_editorial_actor_in_log_order(
    events: list[LedgerEvent],
) -> None:
    """Ballots (a voter's) never enter; every other event with an actor does, once."""
    catalog = Catalog()
    try:
        catalog.apply_all(events)
    except (KeyError, ValueError):  # ill-formed logs the fold refuses (test_fold_pages.py)
        assume(False)
    expected = [
        (index, event.position, event.data["actor"], event.kind)
        for index, event in enumerate(events)
        if not event.kind.startswith("Ballot.") and "actor" in event.data
    ]
    drained = catalog.drain().actions
    assert [(a["leaf_index"], a["position"], a["actor"], a["kind"]) for a in drained] == expected
    assert all(not a["actor"].startswith("voter:") for a in drained)
    assert catalog.drain().actions == []


def test_a_catalog_folded_before_the_index_existed_is_folded_again(settings: Settings) -> None:
    """A store whose catalog has no view_actions yet (folded by an older version) rebuilds the
    catalog beside its serving views, so the index holds every earlier action."""

    def without_the_index(runtime: Runtime) -> int:
        seed_demo(runtime.ledger)
        runtime.follow()
        assert runtime.wait_caught_up(10)
        serving = runtime.views.generations.serving(CATALOG).generation
        runtime.views.db.execute("DROP VIEW view_actions")  # the serving generation's index
        runtime.views.db.execute(f"DROP TABLE view_actions_g{int(serving)}")
        return serving

    with restarted(settings, without_the_index) as (runtime, serving):
        assert runtime.outdated(CATALOG)
        runtime.follow()
        deadline = time.monotonic() + 20
        while runtime.views.generations.serving(CATALOG).generation == serving:
            assert time.monotonic() < deadline, "no rebuild beside the serving catalog"
            time.sleep(0.05)
        assert runtime.wait_caught_up(10)
        found = runtime.views.actions(CATALOG, SEED_ACTOR, 2**62, 1000)
        assert len(found.docs) == runtime.ledger.recorder.max_notification_id()
