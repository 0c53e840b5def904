"""Views on a real store (SQLite and PostgreSQL): following, resuming, racing, rebuilding."""

from __future__ import annotations

import orjson
import pytest

from api.bootstrap import open_runtime
from domain.application import Ledger
from domain.settings import Settings
from projections.follower import Follower
from projections.rebuild import rebuild
from projections.tracking import StaleProjection
from projections.views import CATALOG, CatalogProjection, ViewStore
from tests.builders import list_tools


def tool_doc(views: ViewStore, slug: str) -> dict:
    [doc] = views.tool_documents(CATALOG, [slug]).docs
    return orjson.loads(doc)


def test_follower_thread_catches_up_on_local_and_foreign_writes(settings: Settings) -> None:
    """Writes from this process and from another Ledger on the same store both reach the views."""
    runtime = open_runtime(settings)
    other = Ledger(settings)
    try:
        runtime.follow()
        list_tools(runtime.ledger, "alpha")
        runtime.ledger.cast_vote("alpha", "voter:a", "ship")
        last = other.cast_vote("alpha", "voter:b", "skip").position
        assert last is not None
        assert runtime.views.wait_for(CATALOG, last, timeout=10) >= last
        assert tool_doc(runtime.views, "alpha")["community"] == {
            "ship": 1,
            "skip": 1,
            "total": 2,
            "ship_pct": 50,
        }
    finally:
        other.close()
        runtime.close()


def test_resumed_and_racing_followers_never_double_count(settings: Settings) -> None:
    """A follower restarted mid-log and a second follower racing it leave the rebuild's state."""
    runtime = open_runtime(settings)
    try:
        ledger, views = runtime.ledger, runtime.views
        list_tools(ledger, "alpha")
        for i in range(30):
            ledger.cast_vote("alpha", f"voter:{i}", "ship" if i % 2 else "skip")
        first = Follower(ledger.recorder, CatalogProjection(views), page_size=10)
        first.catch_up()
        for i in range(30, 45):
            ledger.cast_vote("alpha", f"voter:{i}", "ship")
        resumed = Follower(ledger.recorder, CatalogProjection(views), page_size=4)
        resumed.catch_up()
        ledger.cast_vote("alpha", "voter:0", "ship")
        with pytest.raises(StaleProjection):
            first.catch_up()  # behind: its compare-and-set fails and it reloads from the table
        first.catch_up()
        live = tool_doc(views, "alpha")
        assert live["community"] == {"ship": 31, "skip": 14, "total": 45, "ship_pct": 69}
        rebuild(ledger.recorder, CatalogProjection(views), page_size=7)
        assert tool_doc(views, "alpha") == live
    finally:
        runtime.close()


def test_compare_reads_both_tools_at_one_position(settings: Settings) -> None:
    """tool_documents for two slugs returns both documents and the single position they share."""
    runtime = open_runtime(settings)
    try:
        list_tools(runtime.ledger, "alpha", "beta")
        Follower(runtime.ledger.recorder, CatalogProjection(runtime.views)).catch_up()
        at, size, docs = runtime.views.tool_documents(CATALOG, ["alpha", "beta"])
        assert (at, size) == (2, 2)
        assert sorted(orjson.loads(d)["slug"] for d in docs) == ["alpha", "beta"]
        assert runtime.views.tool_documents(CATALOG, ["ghost"]) == (2, 2, [])
    finally:
        runtime.close()
