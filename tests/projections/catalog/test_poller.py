"""The API's polled catalog snapshot: exactly the committed view documents, re-read only when
the catalog's tracked position moves."""

from __future__ import annotations

from pathlib import Path

import orjson

from api.bootstrap import open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.catalog.poller import CatalogPoller
from projections.catalog.views import CATALOG
from projections.following.follower import Follower


def test_snapshot_is_the_committed_views_and_follows_their_position(tmp_path: Path) -> None:
    runtime = open_runtime(Settings(database_url=f"sqlite:///{tmp_path}/ledger.db"))
    try:
        seed_demo(runtime.ledger)
        poller = CatalogPoller(runtime.views)
        poller.refresh()
        assert poller.snapshot is not None
        assert (poller.snapshot.position, dict(poller.snapshot.tools)) == (0, {})

        follower = Follower(runtime.ledger.recorder, runtime.projection(CATALOG))
        follower.catch_up()
        poller.refresh()
        found = runtime.views.tool_documents(CATALOG)
        assert poller.snapshot.position == found.position > 0
        assert sorted(poller.snapshot.tools.values()) == sorted(found.docs)
        unchanged = poller.snapshot
        poller.refresh()
        assert poller.snapshot is unchanged, "no new commit, no new read"

        runtime.ledger.vote("smollm3", "v_poller", "ship")
        follower.catch_up()
        poller.refresh()
        assert poller.snapshot is not unchanged
        assert poller.snapshot.position == runtime.views.tracking.tracked(CATALOG)[0]
        doc = orjson.loads(poller.snapshot.tools["smollm3"])
        before = orjson.loads(unchanged.tools["smollm3"])
        assert doc["community"]["ship"] == before["community"]["ship"] + 1
    finally:
        runtime.close()
