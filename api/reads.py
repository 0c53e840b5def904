"""Read routes: they query the views only, never the write side."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api.problems import RESPONSES
from domain import rules
from domain.errors import InvalidInput, UnknownSeat, UnknownTool
from projections.follower import CATALOG
from projections.views import ViewStore

router = APIRouter(prefix="/v1", responses=RESPONSES)

MinPosition = Annotated[
    int | None,
    Query(ge=0, description="Wait (up to 2 s) until the views reflect at least this log position."),
]
MAX_WAIT_SECONDS = 2.0


def _views(request: Request, min_position: int | None) -> ViewStore:
    """The views, once they reflect `min_position` (waiting at most MAX_WAIT_SECONDS). A position
    past the end of the log was never acknowledged to anyone: refuse it rather than wait."""
    runtime = request.app.state.runtime
    views: ViewStore = runtime.views
    if min_position is not None:
        end = runtime.ledger.recorder.max_notification_id() or 0
        if min_position > end:
            raise InvalidInput("min_position", f"is beyond the end of the log ({end})")
        views.wait_for(CATALOG, min_position, MAX_WAIT_SECONDS)
    return views


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/tools", summary="Every listed tool with its panel and community figures")
def list_tools(
    request: Request, min_position: MinPosition = None, include_delisted: bool = False
) -> Response:
    views = _views(request, min_position)
    at, docs = views.tool_documents(CATALOG)
    tools = [orjson.loads(d) for d in docs]
    if not include_delisted:
        tools = [t for t in tools if t["status"] == "listed"]
    return _json({"tools": tools, "as_of": {"position": at}})


@router.get("/tools/{slug}", summary="One tool: listing, panel and community figures")
def get_tool(request: Request, slug: str, min_position: MinPosition = None) -> Response:
    rules.slug(slug)
    views = _views(request, min_position)
    at, docs = views.tool_documents(CATALOG, [slug])
    if not docs:
        raise UnknownTool(slug)
    return _json({**orjson.loads(docs[0]), "as_of": {"position": at}})


@router.get("/compare/{left}/{right}", summary="Two tools side by side, from one log position")
def compare(request: Request, left: str, right: str, min_position: MinPosition = None) -> Response:
    rules.slug(left, "left")
    rules.slug(right, "right")
    views = _views(request, min_position)
    at, docs = views.tool_documents(CATALOG, [left, right])
    by_slug = {d["slug"]: d for d in map(orjson.loads, docs)}
    for slug in (left, right):
        if slug not in by_slug:
            raise UnknownTool(slug)
    return _json({"left": by_slug[left], "right": by_slug[right], "as_of": {"position": at}})


@router.get(
    "/tools/{slug}/verdicts/{seat}/history",
    summary="Every version of one verdict: what it said, who changed it, why, when",
)
def verdict_history(
    request: Request, slug: str, seat: str, min_position: MinPosition = None
) -> Response:
    rules.slug(slug)
    rules.seat(seat)
    views = _views(request, min_position)
    at, docs = views.verdict_history(CATALOG, slug, seat)
    if not docs:
        if not views.tool_documents(CATALOG, [slug])[1]:
            raise UnknownTool(slug)
        raise UnknownSeat(slug, seat)
    return _json(
        {
            "tool": slug,
            "seat": seat,
            "versions": [orjson.loads(d) for d in docs],
            "as_of": {"position": at},
        }
    )


@router.get("/comparisons", summary="Published comparisons, newest first")
def list_comparisons(request: Request, min_position: MinPosition = None) -> Response:
    views = _views(request, min_position)
    at, docs = views.comparison_documents(CATALOG)
    comparisons = [c for c in map(orjson.loads, docs) if c["status"] == "published"]
    return _json({"comparisons": comparisons, "as_of": {"position": at}})
