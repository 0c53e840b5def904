"""The comparison site: server-rendered HTML over the views, and voting by plain HTML forms.

Routes translate only. Each page reads the view tables in one statement, so it shows one
committed log prefix and says which. Votes go through the vote use case the API calls
(api/voting/votes.py) and answer 303 to the page with `?min_position=<receipt>`, so the visitor
sees their vote at once. Everything works without JavaScript; static/vote.js only saves the reload.

Cookies (all Secure, HttpOnly, SameSite=Lax, Path=/, `__Host-` so no subdomain can plant them):
- voter: the voter token, issued at the first vote (a visitor who only reads gets no identity);
- ballots: this voter's current choice per tool, from the receipts of their own votes. It only
  decides what "your vote" shows; the tallies come from the views. (The views keep no ballot per
  voter, and pages never read the write side, so the receipt is the one cheap, exact source.)
- csrf: a random value that every vote form repeats (double submit); votes whose Origin or
  Referer names another site are refused as well."""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jinja2
import orjson
from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from api.middleware.representation import reflects
from api.own_writes import client_of
from api.problems import status_of
from api.routes.reads import views_at
from api.schemas import position_or_none
from api.site.charts import score_chart
from api.site.static_files import VersionedStaticFiles, static_url
from api.site.wilson import percent_bounds, wilson_interval
from api.site.xml_text import xml_safe
from api.voting.credentials import Credentials, Principal
from api.voting.ratelimit import RateLimited
from api.voting.votes import Voted, Voting
from domain import rules
from domain.errors import LedgerError
from domain.rules import Surface
from projections.audit.witness_store import newest_witnessed
from projections.catalog.paging import Key, Order, decode_cursor, encode_cursor
from projections.catalog.views import CATALOG, Documents, ViewStore

HERE = Path(__file__).parent
VOTER_COOKIE = "__Host-verdict-voter"
BALLOTS_COOKIE = "__Host-verdict-ballots"
CSRF_COOKIE = "__Host-verdict-csrf"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest lifetime browsers honour
MAX_BALLOTS = 100  # keeps the ballots cookie under the 4 KiB browsers accept
CHART_POINTS = 120
FEED_ENTRIES = 50
FRONT_TOOLS = 12
"""Tools in each list of the home page."""
FRONT_SCOPE = f"tools:{Order.NEWEST}"
AUDIT_CHECKPOINTS = 10
_CSRF = re.compile(r"[A-Za-z0-9_-]{43}")
_BALLOT = re.compile(r"([a-z0-9][a-z0-9-]{0,63}):(ship|skip):([0-9]{1,18})")
MAX_PAIR_LENGTH = 2 * rules.MAX_SLUG_LENGTH + len("-vs-")
_PAIR = re.compile(r"[a-z0-9-]+")
_BACK = re.compile(
    rf"/(?:tools/[a-z0-9][a-z0-9-]{{0,63}}|compare/[a-z0-9-]{{3,{MAX_PAIR_LENGTH}}})"
)
SECURITY_HEADERS = {  # and the rest of api/middleware/security_headers.py's one table
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "private, no-cache",
    "Vary": "Cookie",
}

router = APIRouter(include_in_schema=False)
router.mount("/static", VersionedStaticFiles(directory=HERE / "static"), name="static")


# -- formatting (template filters) ------------------------------------------------------------


def pct(value: int | None) -> str:
    """A published percentage, or "—" when there is nothing to divide."""
    return "—" if value is None else f"{value}%"


def when(iso: str, *, with_time: bool = False) -> str:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    text = f"{moment.day} {moment:%b %Y}"
    return f"{text}, {moment:%H:%M} UTC" if with_time else text


def interval(community: Mapping[str, Any]) -> str | None:
    """The Wilson 95 % interval of the community share, in whole percent; None without votes."""
    bounds = wilson_interval(community["ship"], community["total"])
    if bounds is None:
        return None
    low, high = percent_bounds(bounds)
    return f"{low}\u2013{high}%"


def isolate(text: str) -> str:
    """User text where no markup can go (<title>, attributes), between FIRST STRONG ISOLATE and
    POP DIRECTIONAL ISOLATE: the plain-text <bdi>, so an override in it reverses nothing else."""
    return f"\u2068{text}\u2069"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(pct=pct, when=when, plural=plural, isolate=isolate)
_env.globals.update(interval=interval, static_url=static_url)
templates = Jinja2Templates(env=_env)


# -- reading the views ------------------------------------------------------------------------


def _views(request: Request) -> ViewStore:
    """The views, once they reflect `?min_position=` (a vote's receipt): see `views_at`."""
    wanted = position_or_none(request.query_params.get("min_position", ""))
    return views_at(request, wanted, strict=False)


def _docs(found: Documents) -> list[dict[str, Any]]:
    return [orjson.loads(d) for d in found.docs]


def _sides(pair: str) -> list[tuple[str, str]]:
    """Every way to read `a-vs-b` as two slugs: slugs may themselves contain "-vs-". A pair
    longer than two slugs can be, or with a character no slug has, has none: refused before any
    split is tried (a long path of "-vs-" would otherwise cost work quadratic in its length)."""
    if len(pair) > MAX_PAIR_LENGTH or not _PAIR.fullmatch(pair):
        return []
    parts = pair.split("-vs-")
    splits = [("-vs-".join(parts[:i]), "-vs-".join(parts[i:])) for i in range(1, len(parts))]
    return [(a, b) for a, b in splits if a != b and rules.is_slug(a) and rules.is_slug(b)]


# -- visitor state: voter, ballots, csrf ------------------------------------------------------


def _credentials(request: Request) -> Credentials:
    credentials: Credentials = request.app.state.runtime.credentials
    return credentials


def _voter(request: Request) -> Principal | None:
    token = request.cookies.get(VOTER_COOKIE)
    return _credentials(request).voter(token) if token else None


def _ballots(request: Request, voter: Principal | None) -> dict[str, tuple[str, int]]:
    """This voter's receipts, {slug: (choice, position)}; a cookie left by another identity
    counts for nothing."""
    owner, _, entries = request.cookies.get(BALLOTS_COOKIE, "").partition(".")
    if voter is None or owner != voter.name:
        return {}
    found = (_BALLOT.fullmatch(e) for e in entries.split(".") if e)
    return {m[1]: (m[2], int(m[3])) for m in found if m}


def _ballots_cookie(voter: Principal, ballots: Mapping[str, tuple[str, int]]) -> str:
    kept = list(ballots.items())[-MAX_BALLOTS:]
    return ".".join([voter.name, *(f"{s}:{c}:{p}" for s, (c, p) in kept)])


def _set_cookie(response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="lax"
    )


def _csrf(request: Request) -> tuple[str, bool]:
    """The visitor's CSRF value, and whether it is new (then the page sets the cookie)."""
    current = request.cookies.get(CSRF_COOKIE, "")
    if _CSRF.fullmatch(current):
        return current, False
    return secrets.token_urlsafe(32), True


def _same_origin(request: Request) -> bool:
    """False when Origin (or, without it, Referer) names another host. Compared by host and
    port, so a TLS-terminating proxy in front does not break it; the token still has to match."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc == host
    referer = request.headers.get("referer")
    return referer is None or urlsplit(referer).netloc == host


# -- responses --------------------------------------------------------------------------------


def render_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render with what every page needs: the visitor's CSRF value and the log position."""
    csrf, new = _csrf(request)
    if isinstance(context.get("at"), Documents):
        reflects(request, context["at"].position)
    response = templates.TemplateResponse(
        request,
        template,
        {"csrf": csrf, "path": request.url.path, **context},
        status_code=status,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )
    if new:
        _set_cookie(response, CSRF_COOKIE, csrf, max_age=None)
    return response


def error_page(
    request: Request,
    status: int,
    title: str,
    detail: str,
    *,
    found: Documents | None = None,
    headers: Mapping[str, str] | None = None,
    problem: str | None = None,
) -> Response:
    """An error page; `problem` names a refusal as the API's problem+json `type` would."""
    if found is None:
        views: ViewStore = request.app.state.runtime.views
        found = Documents(*views.tracking.tracked(CATALOG), [])
    return render_page(
        request,
        "error.html",
        {"title": title, "detail": detail, "at": found, "problem": problem},
        status=status,
        headers=headers,
    )


def _refused(request: Request, error: LedgerError | RateLimited) -> Response:
    """A refused vote as an HTML page, with the status the API would give (api/problems.py)."""
    if isinstance(error, RateLimited):
        retry = str(max(1, int(error.retry_after) + 1))
        return error_page(
            request,
            429,
            "Too many votes",
            f"Please wait {retry} seconds and try again.",
            headers={"Retry-After": retry},
            problem=error.type,
        )
    return error_page(
        request, status_of(error), "Your vote was not recorded", error.detail, problem=error.type
    )


def not_found_page(request: Request) -> Response:
    """What a browser gets for a path no route has (api/problems.py decides when)."""
    return error_page(request, 404, "No such page", "Nothing is published at this address.")


# -- pages ------------------------------------------------------------------------------------


@router.get("/", name="home")
def home(request: Request) -> Response:
    """The newest tools, a page at a time (`?after=` / `?before=` cursors), beside the top tools
    by panel score; `?category=` narrows both to one category. The first page of the whole
    catalog also shows the newest comparisons."""
    category = request.query_params.get("category") or None
    try:
        if category is not None:
            rules.text("category", category)
        after, before = (_cursor(request, field) for field in ("after", "before"))
    except LedgerError as error:
        return error_page(request, 422, "No such page", error.detail, problem=error.type)
    found = _views(request).front_page(
        CATALOG, shown=FRONT_TOOLS, category=category, after=after, before=before
    )
    tools = {t["slug"]: t for t in _docs(found["tool"].documents())}
    comparisons = [
        {**c, "left_tool": tools[c["left"]], "right_tool": tools[c["right"]]}
        for c in _docs(found["comparison"].documents())
        if c["left"] in tools and c["right"] in tools
    ]
    newest = found["newest"]
    forward = before is None
    first, last = (newest.keys[0], newest.keys[-1]) if newest.keys else (None, None)
    if forward:  # came from before `after` (if given); more means there is a next page
        links = {
            "prev": first if after is not None else None,
            "next": last if newest.more else None,
        }
    else:  # came from after `before`; more means there is a previous page
        links = {"prev": first if newest.more else None, "next": last}
    query = {"category": category} if category else {}
    pager = {
        rel: f"/?{urlencode({**query, field: encode_cursor(FRONT_SCOPE, key)})}"
        for (rel, key), field in zip(links.items(), ("before", "after"), strict=True)
        if key is not None
    }
    return render_page(
        request,
        "index.html",
        {
            "comparisons": comparisons,
            "tools": _docs(newest.documents()),
            "top": _docs(found["top"].documents()),
            "category": category,
            "pager": pager,
            "first": forward and after is None,
            "at": newest,
        },
    )


def _cursor(request: Request, field: str) -> Key | None:
    given = request.query_params.get(field)
    return None if given is None else decode_cursor(FRONT_SCOPE, given, field=field)


@router.get("/compare/{pair}", name="compare")
def compare(request: Request, pair: str) -> Response:
    candidates = _sides(pair)
    slugs = sorted({s for c in candidates for s in c})
    found = _views(request).tool_documents(CATALOG, slugs) if slugs else None
    tools = {t["slug"]: t for t in _docs(found)} if found else {}
    sides = next(((a, b) for a, b in candidates if a in tools and b in tools), None)
    if found is None or sides is None:
        return error_page(
            request,
            404,
            "No such comparison",
            "Both sides must be listed tools, written as /compare/<tool>-vs-<tool>.",
            found=found,
        )
    left, right = tools[sides[0]], tools[sides[1]]
    voter = _voter(request)
    return render_page(
        request,
        "compare.html",
        {
            "left": left,
            "right": right,
            "seats": _scorecard(left, right),
            "ballots": _ballots(request, voter),
            "voted": request.query_params.get("vote"),
            "at": found,
        },
    )


def _scorecard(left: Mapping[str, Any], right: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Seats in the order the left tool's panel filled them, then any only the right one has."""
    by_seat = [{v["seat"]: v for v in t["panel"]["verdicts"]} for t in (left, right)]
    seats = list(dict.fromkeys([*by_seat[0], *by_seat[1]]))
    return [
        {
            "seat": seat,
            "reviewer": (by_seat[0].get(seat) or by_seat[1][seat])["reviewer"],
            "left": by_seat[0].get(seat),
            "right": by_seat[1].get(seat),
        }
        for seat in seats
    ]


@router.get("/tools/{slug}", name="tool")
def tool(request: Request, slug: str) -> Response:
    views = _views(request)
    found = views.tool_page(CATALOG, slug, CHART_POINTS) if rules.is_slug(slug) else None
    if found is None or not found["tool"].docs:
        return error_page(request, 404, "No such tool", f"No tool is listed as “{slug}”.")
    doc = _docs(found["tool"])[0]
    history = list(reversed(_docs(found["history"])))
    current = {v["seat"] for v in doc["panel"]["verdicts"]}
    seats: dict[str, list[dict[str, Any]]] = {}
    for version in history:
        seats.setdefault(version["seat"], []).append(version)
    points = list(reversed(_docs(found["point"])))
    chart = (
        score_chart(
            points,
            lambda p: _point_href(slug, p),
            chart_id=f"chart-{slug}",
            title=f"{isolate(doc['name'])}: panel and community ship % over time",
        )
        if points
        else None
    )
    voter = _voter(request)
    return render_page(
        request,
        "tool.html",
        {
            "tool": doc,
            "histories": seats,
            "retracted": [s for s in seats if s not in current],
            "chart": chart,
            "points": points,
            "points_capped": len(points) == CHART_POINTS,
            "point_href": lambda p: _point_href(slug, p),
            "ballots": _ballots(request, voter),
            "voted": request.query_params.get("vote"),
            "base": str(request.base_url).rstrip("/"),
            "at": found["tool"],
        },
    )


def _point_href(slug: str, point: Mapping[str, Any]) -> str:
    """Where a chart step links: the tool as published just after that event."""
    if "size" in point:
        return f"/v1/tools/{slug}?as_of={int(point['size'])}"
    return f"/v1/tools/{slug}?min_position={int(point['position'])}"


@router.get("/audit", name="audit")
def audit(request: Request) -> Response:
    """The newest witnessed checkpoint, the keys it verifies with, what each witness last
    said, and how to check the ledger."""
    runtime = request.app.state.runtime
    position, size = _views(request).tracking.tracked(CATALOG)
    found = Documents(position, size, [])
    recent = runtime.audit.recent_checkpoints(AUDIT_CHECKPOINTS)
    settings = runtime.settings
    keys = [w.verifier_key for w in settings.witnesses]
    witnessed = newest_witnessed(runtime.audit, runtime.witnessed, keys, settings.quorum)
    cosigned = runtime.witnessed.cosignatures([cp.size for cp in recent], keys)
    return render_page(
        request,
        "audit.html",
        {
            "latest": recent[0] if recent else None,
            "witnessed": witnessed,
            "quorum": settings.quorum,
            "witnesses": [
                runtime.witnessed.witness(w.url, w.verifier_key) for w in settings.witnesses
            ],
            "cosigned": {size: len(found) for size, found in cosigned.items()},
            "recent": recent,
            "signer": runtime.signer,
            "base": settings.public_url,  # never the Host header
            "at": found,
        },
    )


@router.get("/feed.xml", name="feed")
def feed(request: Request) -> Response:
    found = _views(request).feed_page(CATALOG, FEED_ENTRIES)
    tools = {t["slug"]: t for t in _docs(found["tool"])}
    base = request.app.state.runtime.settings.public_url  # never the Host header
    entries: list[dict[str, Any]] = []
    for c in _docs(found["comparison"]):
        if c["status"] == "published" and c["left"] in tools and c["right"] in tools:
            entries.append(
                {
                    "kind": "comparison",
                    "at": c["published_at"],
                    "position": c["position"],
                    "left": tools[c["left"]],
                    "right": tools[c["right"]],
                    "link": f"{base}/compare/{c['left']}-vs-{c['right']}",
                }
            )
    # A verdict's new version and a correction both concern one tool: one entry, its own link.
    links: dict[str, Callable[[dict[str, Any]], str]] = {
        "verdict": lambda h: f"{base}/tools/{h['tool']}#seat-{h['seat']}",
        "correction": lambda m: f"{base}/v1/tools/{m['tool']}?as_of={m['last_leaf_index'] + 1}",
    }
    for kind, rows in (("verdict", found["history"]), ("correction", found["correction"])):
        for row in _docs(rows):
            if row["tool"] in tools:
                name = tools[row["tool"]]["name"]
                entries.append({"kind": kind, **row, "name": name, "link": links[kind](row)})
    entries.sort(key=lambda e: e["position"], reverse=True)
    del entries[FEED_ENTRIES:]
    feed_url = f"{base}/feed.xml"
    for e in entries:
        e["id"] = "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{feed_url}#{e['position']}"))
    updated = max((e["at"] for e in entries), default="1970-01-01T00:00:00+00:00")
    # The feed changes with its entries only (not with every vote), so its validators are
    # the newest entry's position and time.
    newest = entries[0]["position"] if entries else 0
    reflects(request, newest)
    modified = format_datetime(datetime.fromisoformat(updated).astimezone(UTC), usegmt=True)
    return templates.TemplateResponse(
        request,
        "feed.xml",
        {
            **xml_safe(
                {"entries": entries, "updated": updated, "base": base, "feed_url": feed_url}
            ),
            "newest": newest,
        },
        media_type="application/atom+xml",
        headers={"X-Content-Type-Options": "nosniff", "Last-Modified": modified},
    )


# -- voting -----------------------------------------------------------------------------------


@router.post("/tools/{slug}/vote", name="vote")
async def vote(request: Request, slug: str) -> Response:
    """A vote form: ship, skip or retract, through the vote use case every entrance calls
    (api/voting/votes.py; a first vote registers the visitor there). Refused with 403 unless
    the form carries the visitor's CSRF value and comes from this site."""
    body = (await request.body()).decode("utf-8", "replace")
    form = {k: v[-1] for k, v in parse_qs(body).items()}
    if not from_this_site(request, form):
        return await run_in_threadpool(
            error_page,
            request,
            403,
            "Vote refused",
            "This form did not come from this site, or it has expired. Go back, reload the "
            "page and vote again (voting needs cookies).",
        )
    choice = form.get("choice", "")
    back = form.get("back", "")
    if not _BACK.fullmatch(back):
        back = f"/tools/{slug}"
    voting: Voting = request.app.state.voting
    client = client_of(request.scope)
    try:
        voted = await voting.vote(
            slug,
            None if choice == "retract" else choice,
            _voter(request),
            client,
            surface=Surface.PAGE,
        )
    except (LedgerError, RateLimited) as error:
        return await run_in_threadpool(_refused, request, error)
    return _back_to_the_page(request, slug, back, voted)


def from_this_site(request: Request, form: Mapping[str, str]) -> bool:
    """The form repeats the visitor's CSRF cookie and its Origin (or Referer) is this site."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get("csrf", "")
    return bool(
        _same_origin(request)
        and _CSRF.fullmatch(cookie)
        and hmac.compare_digest(sent.encode(), cookie.encode())
    )


def _back_to_the_page(request: Request, slug: str, back: str, voted: Voted) -> Response:
    """303 to the page voted from, at the receipt's position, with the visitor's cookies."""
    receipt, voter = voted.receipt, voted.voter
    ballots = _ballots(request, voter)
    previous = ballots.pop(slug, None)
    if receipt.choice is not None:
        # An unchanged vote writes nothing: keep the position of the receipt that wrote it.
        kept = previous[1] if previous else 0
        ballots[slug] = (receipt.choice, kept if receipt.position is None else receipt.position)
    query: dict[str, Any] = {"vote": slug}
    if receipt.position is not None:
        query["min_position"] = receipt.position
    response = RedirectResponse(f"{back}?{urlencode(query)}#vote-{slug}", status_code=303)
    if voted.token is not None:
        _set_cookie(response, VOTER_COOKIE, voted.token, max_age=COOKIE_MAX_AGE)
    _set_cookie(response, BALLOTS_COOKIE, _ballots_cookie(voter, ballots), max_age=COOKIE_MAX_AGE)
    return response
