"""Read routes: they query the views only, never the write side."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.middleware.representation import pin, reflects
from api.own_writes import OwnWrites, client_of
from api.problems import RESPONSES
from api.schemas import MAX_INT
from domain import rules
from domain.errors import InvalidInput, UnknownSeat, UnknownTool
from domain.rules import MAX_LENGTH
from projections.catalog.paging import MAX_CURSOR, Order, decode_cursor, encode_cursor
from projections.catalog.views import CATALOG, Documents, Page, ViewStore

router = APIRouter(prefix="/v1", responses=RESPONSES)

MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_INT,
        description="Wait (up to 2 s) until the views reflect at least this log position.",
    ),
]
AsOf = Annotated[
    int | None,
    Query(
        ge=0, le=MAX_INT, description="Time travel: the tool as published after the first N events."
    ),
]
At = Annotated[
    datetime | None,
    Query(description="Time travel: the tool as published at this instant (RFC 3339)."),
]
MAX_WAIT_SECONDS = 2.0
OWN_WRITE_WAIT_SECONDS = 1.0
DEFAULT_LIMIT = 100
MAX_LIMIT = 100
"""Entries a list page holds at most: 100 tool documents weigh about 170 KB, inside the 200 KB
an answer may weigh (PAGE_BYTES ends a page of unusually large documents sooner)."""
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Entries on this page, at most.")]
After = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR, description="Where the page starts: the cursor in `next`."),
]


def views_at(request: Request, min_position: int | None, *, strict: bool = True) -> ViewStore:
    """The views, once they reflect `min_position` (waiting at most MAX_WAIT_SECONDS). A position
    past the end of the log was never acknowledged to anyone: refused (422) when `strict`, else
    waited for only up to that end (pages, whose links may outlive a rebuilt store).

    Without `min_position`, the views are awaited (at most OWN_WRITE_WAIT_SECONDS) up to the
    newest write the asking client made through this process (api/own_writes.py): a client
    reads its own write at once, without knowing about positions (behind several workers, a
    client's next request may reach another process, and `?min_position=` is the way)."""
    runtime = request.app.state.runtime
    views: ViewStore = runtime.views
    if min_position is not None:
        end = runtime.ledger.recorder.max_notification_id() or 0
        if min_position > end and strict:
            raise InvalidInput("min_position", f"is beyond the end of the log ({end})")
        views.wait_for(CATALOG, min(min_position, end), MAX_WAIT_SECONDS)
    else:
        written = own_write(request)
        snapshot = runtime.catalog_snapshot()
        if written and (snapshot is None or snapshot.position < written):
            views.wait_for(CATALOG, written, OWN_WRITE_WAIT_SECONDS)
    return views


def own_write(request: Request) -> int:
    """The newest position the asking client wrote through this process (0: none)."""
    own_writes: OwnWrites = request.app.state.own_writes
    return own_writes.newest(client_of(request.scope))


def json_response(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _as_of(request: Request, found: Documents) -> dict[str, int]:
    """The answer's `as_of`, which is also what its ETag names."""
    reflects(request, found.position)
    return {"position": found.position, "size": found.size}


@router.get(
    "/tools",
    summary="Listed tools with their panel and community figures, a page at a time",
)
def list_tools(
    request: Request,
    min_position: MinPosition = None,
    include_delisted: bool = False,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    category: Annotated[
        str | None, Query(max_length=MAX_LENGTH["category"], description="Only this category.")
    ] = None,
    order: Annotated[Order, Query(description="newest listed, or highest ship % first.")] = (
        Order.NEWEST
    ),
) -> Response:
    scope = f"tools:{order}"
    key = decode_cursor(scope, after) if after is not None else None
    page = views_at(request, min_position).tools_page(
        CATALOG,
        order,
        after=key,
        limit=limit,
        category=category,
        include_delisted=include_delisted,
    )
    return _list_answer(request, "tools", scope, page)


def _list_answer(request: Request, name: str, scope: str, page: Page) -> Response:
    """The page's stored documents spliced in as they are (never decoded), and `next`: this
    request's path and query with the cursor of the page's last entry, or null at the end."""
    following = None
    if page.more and page.keys:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
        query.append(("after", encode_cursor(scope, page.keys[-1])))
        following = f"{request.url.path}?{urlencode(query)}"
    tail = orjson.dumps({"next": following, "as_of": _as_of(request, page.documents())})
    body = b'{"%b":[%b],%b' % (name.encode(), b",".join(page.docs), tail[1:])
    return Response(body, media_type="application/json")


@router.get(
    "/tools/{slug}",
    summary="One tool: listing, panel and community figures (now, or as of a log size or time)",
)
async def get_tool(
    request: Request,
    slug: str,
    min_position: MinPosition = None,
    as_of: AsOf = None,
    at: At = None,
) -> Response:
    """Served from this process's last committed catalog snapshot when it is recent enough (no
    query, no thread: reads stay fast while votes are written); else from the view tables."""
    rules.slug(slug)
    runtime = request.app.state.runtime
    snapshot = runtime.catalog_snapshot()
    wanted = own_write(request) if min_position is None else min_position
    recent = snapshot is not None and snapshot.position >= wanted
    if recent and as_of is None and at is None:
        assert snapshot is not None
        doc = snapshot.tools.get(slug)
        if doc is None:
            raise UnknownTool(slug)
        reflects(request, snapshot.position)
        as_of_doc = orjson.dumps({"position": snapshot.position, "size": snapshot.size})
        return Response(doc[:-1] + b',"as_of":' + as_of_doc + b"}", media_type="application/json")
    return await run_in_threadpool(_tool_from_views, request, slug, min_position, as_of, at)


def _tool_from_views(
    request: Request, slug: str, min_position: int | None, as_of: int | None, at: datetime | None
) -> Response:
    views = views_at(request, min_position)
    if as_of is not None and at is not None:
        raise InvalidInput("at", "give as_of or at, not both")
    if as_of is not None:
        size = views.tracking.tracked(CATALOG)[1]
        if as_of > size:
            raise InvalidInput("as_of", f"the log has {size} events in the views so far")
        pin(request)
        return _past(slug, views.tool_as_of(slug, as_of), {"size": as_of})
    if at is not None:
        moment = rules.instant(at, "at").isoformat()
        return _past(slug, views.tool_at_time(slug, moment), {"at": moment})
    found = views.tool_documents(CATALOG, [slug])
    if not found.docs:
        raise UnknownTool(slug)
    return json_response({**orjson.loads(found.docs[0]), "as_of": _as_of(request, found)})


def _past(slug: str, doc: dict[str, Any] | None, when: dict[str, Any]) -> Response:
    if doc is None:
        raise UnknownTool(slug)
    return json_response({**doc, "as_of": when})


@router.get(
    "/tools/{slug}/history",
    summary="The tool's score timeline: one point per event that touched it, oldest first",
)
def tool_history(
    request: Request,
    slug: str,
    min_position: MinPosition = None,
    after: Annotated[
        int, Query(ge=0, le=MAX_INT, description="Only points after this log size")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    rules.slug(slug)
    views = views_at(request, min_position)
    found = views.tool_timeline(CATALOG, slug, after, limit)
    if not found.docs and not views.tool_documents(CATALOG, [slug]).docs:
        raise UnknownTool(slug)
    points = [orjson.loads(d) for d in found.docs]
    more = len(points) == limit
    return json_response(
        {
            "tool": slug,
            "points": points,
            "next_after": points[-1]["size"] if more else None,
            "as_of": _as_of(request, found),
        }
    )


@router.get("/compare/{left}/{right}", summary="Two tools side by side, from one log position")
def compare(request: Request, left: str, right: str, min_position: MinPosition = None) -> Response:
    rules.slug(left, "left")
    rules.slug(right, "right")
    found = views_at(request, min_position).tool_documents(CATALOG, [left, right])
    by_slug = {d["slug"]: d for d in map(orjson.loads, found.docs)}
    for slug in (left, right):
        if slug not in by_slug:
            raise UnknownTool(slug)
    return json_response(
        {"left": by_slug[left], "right": by_slug[right], "as_of": _as_of(request, found)}
    )


@router.get(
    "/tools/{slug}/verdicts/{seat}/history",
    summary="Every version of one verdict: what it said, who changed it, why, when",
)
def verdict_history(
    request: Request, slug: str, seat: str, min_position: MinPosition = None
) -> Response:
    rules.slug(slug)
    rules.seat(seat)
    views = views_at(request, min_position)
    found = views.verdict_history(CATALOG, slug, seat)
    if not found.docs:
        if not views.tool_documents(CATALOG, [slug]).docs:
            raise UnknownTool(slug)
        raise UnknownSeat(slug, seat)
    return json_response(
        {
            "tool": slug,
            "seat": seat,
            "versions": [orjson.loads(d) for d in found.docs],
            "as_of": _as_of(request, found),
        }
    )


@router.get("/comparisons", summary="Published comparisons, newest first, a page at a time")
def list_comparisons(
    request: Request,
    min_position: MinPosition = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Response:
    scope = f"comparisons:{Order.NEWEST}"
    key = decode_cursor(scope, after) if after is not None else None
    page = views_at(request, min_position).comparisons_page(CATALOG, after=key, limit=limit)
    return _list_answer(request, "comparisons", scope, page)
