"""The read API over the seeded demo data, through the real app and store."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient

from api.routes.reads import MAX_LIMIT
from domain.demo_data import TOOLS
from domain.settings import Settings
from projections.catalog.paging import Order, sort_key
from projections.catalog.views import CATALOG
from tests.builders import listing as listing_of
from tests.scripts.drill_harness import app_client, seeded

PUBLISHED = {
    "claude-files-api": 100,
    "llama-4-compact-12b": 100,
    "llama-4-scout-quantized": 100,
    "smollm3": 75,
    "claude-haiku-open-weights": 50,
    "smolvlm2-turbo": 100,
}


def test_tools_show_the_published_panel_figures(client: TestClient) -> None:
    """GET /v1/tools lists the six seeded tools with their published panel ship % and no votes."""
    last = client.app.state.runtime.ledger.recorder.max_notification_id()
    body = client.get("/v1/tools", params={"min_position": last}).json()
    assert body["as_of"]["position"] == last
    assert {t["slug"]: t["panel"]["ship_pct"] for t in body["tools"]} == PUBLISHED
    assert all(
        t["community"] == {"ship": 0, "skip": 0, "total": 0, "ship_pct": None, "voided": 0}
        for t in body["tools"]
    )


def test_one_tool_has_listing_panel_community_and_position(client: TestClient) -> None:
    """GET /v1/tools/smollm3: 3 ship of 4 verdicts, the skip is the buyer's."""
    last = client.app.state.runtime.ledger.recorder.max_notification_id()
    tool = client.get("/v1/tools/smollm3", params={"min_position": last}).json()
    assert (tool["name"], tool["pricing"], tool["category"]) == (
        "SmolLM3",
        "Free",
        "Developer Tools",
    )
    assert {k: tool["panel"][k] for k in ("ship", "skip", "total", "ship_pct")} == {
        "ship": 3,
        "skip": 1,
        "total": 4,
        "ship_pct": 75,
    }
    skips = [v["seat"] for v in tool["panel"]["verdicts"] if v["decision"] == "skip"]
    assert skips == ["buyer"]
    assert tool["as_of"]["position"] >= tool["position"]


def test_unknown_tool_and_bad_slug_are_problems(client: TestClient) -> None:
    """404 for an unknown slug, 422 naming the field for a malformed one, as problem+json."""
    missing = client.get("/v1/tools/no-such-tool")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"].endswith("/unknown-tool")
    bad = client.get("/v1/tools/Not_A_Slug")
    assert bad.status_code == 422
    assert bad.json()["field"] == "slug"


def test_comparisons_list_the_five_seed_pages(client: TestClient) -> None:
    """GET /v1/comparisons lists the five published comparisons, all against Claude Files API."""
    last = client.app.state.runtime.ledger.recorder.max_notification_id()
    body = client.get("/v1/comparisons", params={"min_position": last}).json()
    assert len(body["comparisons"]) == 5
    assert {c["left"] for c in body["comparisons"]} == {"claude-files-api"}


def test_min_position_beyond_the_log_is_refused_at_once(client: TestClient) -> None:
    """A position nobody was ever given is a 422 naming min_position, not a 2 s wait."""
    last = client.app.state.runtime.ledger.recorder.max_notification_id()
    refused = client.get("/v1/tools", params={"min_position": last + 1})
    assert refused.status_code == 422
    assert refused.json()["field"] == "min_position"
    assert client.get("/v1/tools", params={"min_position": last}).status_code == 200


def test_reads_from_the_snapshot_equal_the_view_tables(client: TestClient) -> None:
    """A tool served from the follower's committed in-memory snapshot is exactly the
    view-table document, at the position and size it names."""
    runtime = client.app.state.runtime
    for i, choice in enumerate(("ship", "skip", "ship")):
        runtime.ledger.vote("smollm3", f"voter:{i}", choice)
    last = runtime.ledger.recorder.max_notification_id()
    deadline = time.monotonic() + 10
    while getattr(runtime.catalog_snapshot(), "position", 0) < last:
        assert time.monotonic() < deadline, "the follower did not publish the last commit"
        time.sleep(0.01)
    for slug in PUBLISHED:
        served = client.get(f"/v1/tools/{slug}").json()
        stored = runtime.views.tool_documents(CATALOG, [slug])
        as_of = {"position": stored.position, "size": stored.size}
        assert served == {**orjson.loads(stored.docs[0]), "as_of": as_of}
    assert client.get("/v1/tools/smollm3").json()["community"]["total"] == 3
    assert client.get("/v1/tools/no-such-tool").status_code == 404


ODD_INTEGERS = ["\u00b2", "\u0663", "\uff11", "9" * 5000, "9" * 20, "-1", "1e3", "0x10"]
"""Superscript two, Arabic-Indic three, fullwidth one (all `str.isdigit()`, and the last two read
by `int()`), a number `int()` refuses to read, one past 64 bits, and other non-integers."""
ODD_TIMES = [
    "9999-12-31T23:59:59-00:01",
    "0001-01-01T00:00:00+00:01",
    "0001-01-01T00:00:00+23:59",
    "9" * 5000,
    "2026-02-30T00:00:00Z",
    "99999999999999999999",
]
"""Instants UTC cannot hold (the calendar ends in year 9999 and starts in year 1), a day that does
not exist and numbers no date is made of."""
EXAMPLES = {"slug": "smollm3", "seat": "builder", "left": "claude-files-api", "right": "smollm3"}
REQUIRED = {"first": "1", "second": "2", "index": "1"}


def _odd_queries(client: TestClient) -> list[tuple[str, str, str]]:
    """(path, parameter, value) for every integer and date-time query parameter of every GET
    route in the OpenAPI schema, and every odd value of its kind."""
    found = []
    for template, operations in client.app.openapi()["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        path = template.format(**EXAMPLES)
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            kinds = {(s.get("type"), s.get("format")) for s in schema.get("anyOf", [schema])}
            if parameter["in"] != "query":
                continue
            if ("integer", None) in kinds:
                found += [(path, parameter["name"], v) for v in ODD_INTEGERS]
            if ("string", "date-time") in kinds:
                found += [(path, parameter["name"], v) for v in ODD_TIMES]
    return found


def test_odd_numbers_and_times_are_problems_on_every_route(client: TestClient) -> None:
    """Unicode digits, 5,000-digit numbers and instants outside UTC's calendar: a 4xx
    problem+json naming the parameter on every route, never a 500."""
    queries = _odd_queries(client)
    assert len({(p, name) for p, name, _ in queries}) >= 15, "the walk found the parameters"
    for path, name, value in queries:
        params = {k: v for k, v in REQUIRED.items() if k != name} | {name: value}
        answer = client.get(path, params=params)
        assert 400 <= answer.status_code < 500, (path, name, value, answer.text[:200])
        assert answer.headers["content-type"] == "application/problem+json", (path, name)
        assert answer.json()["field"] == name, (path, name, value, answer.text[:200])


def test_a_client_reads_its_own_write_at_once(settings: Settings) -> None:
    """POST a tool, then GET it at once, with no `?min_position=`: 200, every time; a vote's
    effect is in the very next read. The service waits (briefly) for the views to reach the
    newest write this process acknowledged."""
    key = seeded(settings)
    editor = {"Authorization": f"Bearer {key}"}
    with app_client(settings) as client:
        voter = {"Authorization": f"Bearer {client.post('/v1/voters').json()['token']}"}
        for i in range(10):
            slug = f"fresh-{i}"
            listing = {**listing_of(slug), "slug": slug}
            assert client.post("/v1/tools", json=listing, headers=editor).status_code == 201
            read = client.get(f"/v1/tools/{slug}")
            assert read.status_code == 200, (i, read.text)
            assert client.put(f"/v1/tools/{slug}/vote", json={"choice": "ship"}, headers=voter)
            assert client.get(f"/v1/tools/{slug}").json()["community"]["total"] == 1, i
            assert any(t["slug"] == slug for t in client.get("/v1/tools").json()["tools"])


def walk(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a list, following `next` from the first page."""
    name = path.rsplit("/", 1)[1]
    found: list[dict[str, Any]] = []
    url: str | None = path
    query: dict[str, Any] | None = params
    for _ in range(100):
        assert url is not None
        answer = client.get(url, params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found += body[name]
        url, query = body["next"], None
        if url is None:
            return found
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("order", ["newest", "panel", "community"])
def test_tools_page_by_page_equal_the_whole_list(client: TestClient, order: str) -> None:
    """Pages of two tools, followed through `next`, are the stored documents in the order's
    sort, ties by slug; spliced bytes decode to exactly what the view stored."""
    runtime = client.app.state.runtime
    runtime.ledger.vote("smollm3", "voter:a", "ship")
    last = runtime.ledger.recorder.max_notification_id()
    walked = walk(client, "/v1/tools", order=order, limit=2, min_position=last)
    stored = [orjson.loads(d) for d in runtime.views.tool_documents(CATALOG).docs]
    by_slug = sorted(stored, key=lambda d: d["slug"])
    expected = sorted(by_slug, key=lambda d: sort_key(Order(order), d)[0], reverse=True)
    assert walked == expected


def settled(client: TestClient) -> dict[str, int]:
    """`min_position` of the log's end: the views hold every write so far."""
    return {"min_position": client.app.state.runtime.ledger.recorder.max_notification_id()}


def test_the_tour_s_list_is_the_first_page_of_all_six(client: TestClient) -> None:
    """GET /v1/tools without parameters: every demo tool (fewer than a page), newest first,
    and `next` null."""
    body = client.get("/v1/tools", params=settled(client)).json()
    assert [t["slug"] for t in body["tools"]] == [t.slug for t in reversed(TOOLS)]
    assert body["next"] is None


def test_category_narrows_the_list(client: TestClient) -> None:
    """?category= lists that category's tools only; an unknown one lists none."""
    tools = client.get("/v1/tools", params=settled(client)).json()["tools"]
    wanted = tools[0]["category"]
    narrowed = client.get("/v1/tools", params={"category": wanted, **settled(client)}).json()[
        "tools"
    ]
    assert narrowed == [t for t in tools if t["category"] == wanted]
    assert (
        client.get("/v1/tools", params={"category": "Nothing Here", **settled(client)}).json()[
            "tools"
        ]
        == []
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": MAX_LIMIT + 1}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"after": "not a cursor"}, "after"),
        ({"after": "bm90IGpzb24"}, "after"),
        ({"order": "loudest"}, "order"),
        ({"category": "x" * 61}, "category"),
    ],
)
def test_bad_list_parameters_are_problems_naming_them(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    """Out-of-range limits, tampered cursors, unknown orders: 422 problem+json naming the field."""
    for path in ("/v1/tools", "/v1/comparisons"):
        if path == "/v1/comparisons" and field in ("order", "category"):
            continue
        refused = client.get(path, params=params)
        assert refused.status_code == 422, (path, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["field"] == field


def test_a_cursor_of_one_order_is_refused_in_another(client: TestClient) -> None:
    """The `next` of a panel-ordered list, replayed with order=community or on comparisons: 422."""
    following = client.get(
        "/v1/tools", params={"order": "panel", "limit": 1, **settled(client)}
    ).json()["next"]
    cursor = parse_qs(urlsplit(following).query)["after"][0]
    assert client.get("/v1/tools", params={"order": "panel", "after": cursor}).status_code == 200
    for path, order in (
        ("/v1/tools", "community"),
        ("/v1/tools", "newest"),
        ("/v1/comparisons", None),
    ):
        refused = client.get(path, params={"after": cursor, **({"order": order} if order else {})})
        assert refused.status_code == 422
        assert refused.json()["field"] == "after"


def test_comparisons_page_by_page(client: TestClient) -> None:
    """The five comparisons two at a time: the whole list, newest first, `next` null at the end."""
    whole = client.get("/v1/comparisons", params=settled(client)).json()
    assert whole["next"] is None
    assert walk(client, "/v1/comparisons", limit=2) == whole["comparisons"]
    assert client.get("/v1/comparisons", params={"limit": MAX_LIMIT}).status_code == 200
