"""Score pages on SQLite and PostgreSQL: read page by page at any size, limit and ballot
budget, they say exactly what the per-tool answers say (the document as of the size, the score
proof), tool by tool in slug order, every tool listed by then once and no other."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import Ledger
from domain.errors import InvalidInput
from projections.catalog.score_pages import Cursor, score_page
from projections.catalog.score_proof import score_basis
from projections.catalog.views import CATALOG, CatalogProjection, ViewStore
from projections.following.follower import Follower
from tests.builders import EDITOR, list_tools

SLUGS = ("alpha", "beta", "delta", "gamma", "omega")
MODERATOR = "moderator:mo"


@pytest.fixture
def views(ledger: Ledger) -> ViewStore:
    """Five tools, one listed late and one delisted; ballots cast, changed, retracted, voided
    and restored; every view folded."""
    rng = random.Random(17)
    list_tools(ledger, *SLUGS[:4])
    ledger.publish_verdict("alpha", "buyer", "B", "ship", "fits", EDITOR)
    ledger.publish_verdict("beta", "builder", "B", "skip", "no", EDITOR)
    held: set[tuple[str, str]] = set()
    for i in range(60):
        slug, voter = rng.choice(SLUGS[:4]), f"voter:{i % 25}"
        choice = rng.choice(("ship", "skip", None)) if (slug, voter) in held else "ship"
        ledger.vote(slug, voter, choice)
        (held.discard if choice is None else held.add)((slug, voter))
    ledger.vote("beta", "voter:v", "ship")
    ledger.void_ballots("beta", ["v"], "a sock puppet", "one-person-one-vote", MODERATOR)
    ledger.delist_tool("delta", "gone", EDITOR)
    list_tools(ledger, "omega")
    ledger.vote("omega", "voter:1", "skip")
    ledger.restore_ballots("beta", ["v"], "appeal upheld", "one-person-one-vote", MODERATOR)
    store = ViewStore(ledger.recorder)
    store.create_tables()
    Follower(ledger.recorder, CatalogProjection(store)).catch_up()
    return store


def per_tool(views: ViewStore, size: int) -> list[dict[str, Any]]:
    """What the per-tool routes say at `size`, for every tool listed by then."""
    found = []
    for slug in sorted(SLUGS):
        doc = views.tool_as_of(slug, size)
        if doc is None:
            continue
        panel = doc["panel"]
        found.append(
            {
                "tool": slug,
                "status": doc["status"],
                "panel": {
                    **{k: panel[k] for k in ("ship", "skip", "total", "ship_pct")},
                    "verdicts": [
                        {k: v[k] for k in ("seat", "decision", "position")}
                        for v in panel["verdicts"]
                    ],
                },
                "score": score_basis(views.tool_points(CATALOG, slug, size)).document(),
            }
        )
    return found


def without_ballots(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry but its ballots and voids: what every part of one tool repeats."""
    score = entry["score"]
    community = {k: v for k, v in score["community"].items() if k not in ("ballots", "voids")}
    return {**entry, "score": {**score, "community": community}}


def check_budget(tools: list[dict[str, Any]], budget: int) -> None:
    """What score_pages' docstring promises of a page's size: at most `budget` ballots (one at
    least); ballots and voids over `budget` only when the last tool's voids overflow the room
    left, and then with one ballot of it at most."""
    ballots = [len(t["score"]["community"]["ballots"]) for t in tools]
    voids = [len(t["score"]["community"]["voids"]) for t in tools]
    assert sum(ballots) <= max(1, budget)
    before = sum(ballots[:-1]) + sum(voids[:-1])
    assert len(tools) <= 1 or before < budget, "a page goes on to a tool only with room left"
    if before + ballots[-1] + voids[-1] > budget:
        assert voids[-1] > budget - before - 1 and ballots[-1] <= 1


def read_all(views: ViewStore, size: int, limit: int, ballots: int) -> list[dict[str, Any]]:
    """Every page, its parts of one tool joined again."""
    joined: list[dict[str, Any]] = []
    after: Cursor | None = None
    for _ in range(1000):
        page = score_page(views.db, size, after, limit, ballots)
        assert len(page.tools) <= limit
        if page.tools:
            check_budget(page.tools, ballots)
        for entry in page.tools:
            if joined and joined[-1]["tool"] == entry["tool"]:
                held = joined[-1]
                assert entry["score"]["community"]["voids"] == []
                assert without_ballots(entry) == without_ballots(held), (
                    "a tool's parts agree on all but the ballots"
                )
                held["score"]["community"]["ballots"] += entry["score"]["community"]["ballots"]
            else:
                joined.append(entry)
        if page.next is None:
            return joined
        after = Cursor.decode(page.next.encode(size), size)
    raise AssertionError("the pages never end")


@given(data=st.data())
@settings(max_examples=25)
def test_pages_say_what_each_tool_says(views: ViewStore, data: st.DataObject) -> None:
    """At any size, limit and ballot budget, the pages joined equal the per-tool answers."""
    end = views.tracking.tracked(CATALOG)[1]
    size = data.draw(st.integers(1, end), label="size")
    limit = data.draw(st.integers(1, 6), label="limit")
    ballots = data.draw(st.integers(1, 40), label="ballots")
    assert read_all(views, size, limit, ballots) == per_tool(views, size)


def test_voids_count_against_a_pages_ballots(views: ViewStore) -> None:
    """Before the restore (the last event) beta's void is live: at every budget and limit the
    pages keep their bound with it (the window is too narrow for the random sizes above)."""
    size = views.tracking.tracked(CATALOG)[1] - 1
    expected = per_tool(views, size)
    beta = next(t for t in expected if t["tool"] == "beta")
    assert len(beta["score"]["community"]["voids"]) == 1
    for budget in range(1, 16):
        for limit in (1, 2, 6):
            assert read_all(views, size, limit, budget) == expected, (budget, limit)


def test_a_cursor_of_another_size_is_refused(views: ViewStore) -> None:
    """A cursor names the size it was given out at: another size, or a made-up one, is 422."""
    size = views.tracking.tracked(CATALOG)[1]
    page = score_page(views.db, size, None, 1)
    assert page.next is not None
    with pytest.raises(InvalidInput):
        Cursor.decode(page.next.encode(size), size - 1)
    with pytest.raises(InvalidInput):
        Cursor.decode("bm90IGEgY3Vyc29y", size)
