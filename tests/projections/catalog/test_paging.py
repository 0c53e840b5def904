"""Keyset pages over the catalog's view tables, on SQLite and PostgreSQL: walking the pages of a
random catalog, in every order, forwards and backwards, meets every tool exactly once, in the
order Python's sort gives; cursors round-trip and anything else is refused, naming the field."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.bootstrap import open_runtime
from domain.errors import InvalidInput
from domain.settings import Settings
from projections.catalog.fold import fold_catalog
from projections.catalog.paging import (
    Key,
    Order,
    decode_cursor,
    encode_cursor,
    sort_key,
)
from projections.catalog.sortable import sortable
from projections.catalog.views import CATALOG, PAGE_BYTES, TOOLS, ViewStore, _ListQuery
from tests.builders import ToolSpec, catalog_events

CATEGORIES = ("Agents", "Developer Tools", "Vision")
TIMES = (
    "2026-01-01T00:00:00.000001+00:00",
    "2026-01-01T00:00:00+00:00",  # no microseconds, as isoformat() writes a whole second
    "2026-01-02T09:30:00.500000+00:00",
)
"""Few times and small tallies, so that ties on every sort key are common."""

tool_specs = st.lists(
    st.builds(
        ToolSpec,
        slug=st.from_regex(r"[a-z0-9][a-z0-9-]{0,5}", fullmatch=True),
        category=st.sampled_from(CATEGORIES),
        listed_at=st.sampled_from(TIMES),
        verdicts=st.lists(st.sampled_from(("ship", "skip")), max_size=4).map(tuple),
        ship=st.integers(0, 3),
        skip=st.integers(0, 3),
        delisted=st.booleans(),
    ),
    max_size=30,
    unique_by=lambda spec: spec.slug,
)


@pytest.fixture
def views(settings: Settings) -> Iterator[ViewStore]:
    runtime = open_runtime(settings)
    try:
        yield runtime.views
    finally:
        runtime.close()


def store(views: ViewStore, specs: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """The catalog of these tools, committed as the projection commits it; their documents."""
    views.reset(views.generations.serving(CATALOG))
    catalog = fold_catalog(catalog_events(specs))
    documents = [t.document() for t in catalog.tools.values()]
    views.commit_catalog(views.generations.serving(CATALOG), 0, catalog)
    return documents


def in_order(order: Order, docs: list[dict[str, Any]]) -> list[str]:
    """Python's answer: greatest key first, ties by slug ascending."""
    by_slug = sorted(docs, key=lambda d: d["slug"])
    return [d["slug"] for d in sorted(by_slug, key=lambda d: sort_key(order, d)[0], reverse=True)]


@hypothesis_settings(max_examples=40)
@given(
    specs=tool_specs,
    order=st.sampled_from(Order),
    limit=st.integers(1, 7),
    category=st.none() | st.sampled_from(CATEGORIES),
    include_delisted=st.booleans(),
    budget=st.sampled_from((PAGE_BYTES, 1, 1500)),
)
def test_pages_walk_every_tool_once_in_sorted_order(
    views: ViewStore,
    specs: list[ToolSpec],
    order: Order,
    limit: int,
    category: str | None,
    include_delisted: bool,
    budget: int,
) -> None:
    """Forwards from the start, then backwards from the last tool: the pages, put together,
    are the fully sorted list, each page at most `limit` tools and `budget` bytes (or one tool)."""
    docs = [
        d
        for d in store(views, specs)
        if (include_delisted or d["status"] == "listed")
        and (category is None or d["category"] == category)
    ]
    expected = in_order(order, docs)
    options: dict[str, Any] = {
        "limit": limit,
        "category": category,
        "include_delisted": include_delisted,
        "budget": budget,
    }
    walked: list[str] = []
    keys: list[Key] = []
    after: Key | None = None
    for _ in range(len(expected) + 1):
        page = views.tools_page(CATALOG, order, after=after, **options)
        assert len(page.docs) <= limit
        assert len(page.docs) == 1 or sum(len(d) + 1 for d in page.docs) <= budget
        walked += [orjson.loads(d)["slug"] for d in page.docs]
        keys += page.keys
        if not page.more:
            break
        after = page.keys[-1]
    assert walked == expected
    assert keys == [
        sort_key(order, d) for d in sorted(docs, key=lambda d: expected.index(d["slug"]))
    ]
    if not expected:
        return
    back: list[str] = expected[-1:]
    before: Key | None = keys[-1]
    for _ in range(len(expected) + 1):
        page = views.tools_page(CATALOG, order, before=before, **options)
        back[:0] = [orjson.loads(d)["slug"] for d in page.docs]
        if not page.more:
            break
        before = page.keys[0]
    assert back == expected


@hypothesis_settings(max_examples=15)
@given(specs=tool_specs, limit=st.integers(1, 4))
def test_comparison_pages_walk_every_published_one_newest_first(
    views: ViewStore, specs: list[ToolSpec], limit: int
) -> None:
    """Comparisons page by page: every published one once, newest first, ties by key."""
    views.reset(views.generations.serving(CATALOG))
    catalog = fold_catalog(catalog_events(specs, compare_every=2))
    expected = sorted(
        sorted(catalog.comparisons.values(), key=lambda k: k.key),
        key=lambda k: sortable(k.published_at),
        reverse=True,
    )
    views.commit_catalog(views.generations.serving(CATALOG), 0, catalog)
    walked: list[str] = []
    after: Key | None = None
    for _ in range(len(expected) + 1):
        page = views.comparisons_page(CATALOG, after=after, limit=limit)
        walked += [orjson.loads(d)["key"] for d in page.docs]
        if not page.more:
            break
        after = page.keys[-1]
    assert walked == [k.key for k in expected]


def test_the_list_reads_its_order_s_index(tmp_path: Any) -> None:
    """SQLite plans a page as a range of the order's index, never as a scan and a sort of the
    whole table (the cost of a page must not grow with the catalog)."""
    runtime = open_runtime(Settings(database_url=f"sqlite:///{tmp_path}/ledger.db"))
    try:
        views = runtime.views
        for order in Order:
            for category in (None, "Vision"):
                query_plan = plan(views, order, category)
                column = {"newest": "listed_at", "panel": "panel_pct"}.get(order, "community_pct")
                index = f"view_tools_{'category_' if category else ''}{column}"
                assert f"USING INDEX {index}" in query_plan, query_plan
                assert "TEMP B-TREE" not in query_plan.split("LEFT JOIN")[0], query_plan
    finally:
        runtime.close()


def plan(views: ViewStore, order: Order, category: str | None) -> str:
    query = _ListQuery(TOOLS, order, ("x", "a"), None, 10, category, False)
    sql, params = query.inner("page")
    if order is not Order.NEWEST:
        params = [p if p != "x" else 50 for p in params]
    rows = views.db.fetch("EXPLAIN QUERY PLAN " + sql, params)
    return " | ".join(str(r["detail"]) for r in rows)


# -- cursors ----------------------------------------------------------------------------------


@given(value=st.integers(-1, 100), slug=st.from_regex(r"[a-z0-9][a-z0-9-]{0,63}", fullmatch=True))
def test_a_cursor_names_the_key_it_was_made_of(value: int, slug: str) -> None:
    """decode(encode(key)) is the key, for a score order; the cursor is URL-safe as it is."""
    cursor = encode_cursor("tools:panel", (value, slug))
    assert cursor.replace("-", "").replace("_", "").isalnum()
    assert decode_cursor("tools:panel", cursor) == (value, slug)


@pytest.mark.parametrize("other", ["tools:newest", "tools:community", "comparisons:newest"])
def test_a_cursor_of_another_order_or_list_is_refused(other: str) -> None:
    """A panel-order cursor given to another order or list: 422 naming `after`."""
    cursor = encode_cursor("tools:panel", (75, "smollm3"))
    with pytest.raises(InvalidInput) as refused:
        decode_cursor(other, cursor)
    assert refused.value.field == "after"


@given(cursor=st.text(max_size=80) | st.binary(max_size=60).map(lambda b: b.hex()))
def test_anything_else_is_refused_naming_the_field(cursor: str) -> None:
    """Random text is InvalidInput naming the field it came in, never another error."""
    with pytest.raises(InvalidInput) as refused:
        decode_cursor("tools:newest", cursor, field="before")
    assert refused.value.field == "before"


@pytest.mark.parametrize(
    "raw",
    [
        b'["tools:panel", 101, "a"]',
        b'["tools:panel", -2, "a"]',
        b'["tools:panel", 50.5, "a"]',
        b'["tools:panel", true, "a"]',
        b'["tools:panel", 50, "Not A Slug"]',
        b'["tools:panel", 50]',
        b'{"scope": "tools:panel"}',
        b'["tools:newest", 50, "a"]',
        b"not json",
    ],
)
def test_tampered_cursors_are_refused(raw: bytes) -> None:
    """Well-encoded cursors whose key is out of its order's range, malformed, or of another
    order are refused, naming `after`."""
    cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    with pytest.raises(InvalidInput) as refused:
        decode_cursor("tools:panel", cursor)
    assert refused.value.field == "after"
