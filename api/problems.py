"""RFC 9457 problem details: the one place where errors become HTTP responses."""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import psycopg.errors
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match

from api.schemas import Problem
from api.voting.auth import Forbidden, Unauthenticated
from api.voting.ratelimit import RateLimited
from domain.errors import Conflict, InvalidInput, LedgerError, NotFound

PROBLEM_BASE = "/problems/"  # relative URI references (RFC 9457 §3.1.1): no host we do not own
MEDIA_TYPE = "application/problem+json"

STATUS_BY_ERROR: list[tuple[type[LedgerError], int]] = [
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
]


def _declared(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {MEDIA_TYPE: {}}}


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _declared("The body is not well-formed JSON"),
    401: _declared("No credential, or an unknown or revoked one"),
    403: _declared("The credential's role may not do this"),
    404: _declared("Unknown tool, seat, ballot or comparison"),
    409: _declared("Conflicts with the current state (e.g. listing a slug twice)"),
    413: _declared("Body larger than the limit"),
    422: _declared("Invalid input; `field` names the field at fault"),
    429: _declared("Rate limited; see Retry-After"),
    503: _declared(
        "The database cannot be reached, or its disk is full, right now; retry after Retry-After"
    ),
}
log = logging.getLogger("verdict.problems")


def problem(
    status: int,
    type_: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body = {"type": PROBLEM_BASE + type_, "title": title, "status": status, "detail": detail}
    body.update(extra or {})
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def status_of(error: LedgerError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 400


async def _ledger_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, LedgerError)
    extra = {"field": error.field} if error.field is not None else {}
    title = type(error).__name__
    return problem(status_of(error), error.type, title, error.detail, extra=extra)


async def _validation_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), "message": e["msg"]}
        for e in error.errors()
    ]
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    if any(e["type"] == "json_invalid" for e in error.errors()):
        return problem(
            400,
            "malformed-json",
            "Malformed JSON",
            f"body: {first['message']}",
            extra={"field": "body"},
        )
    return problem(
        422,
        "invalid-input",
        "InvalidInput",
        f"{first['field']}: {first['message']}",
        extra={"field": first["field"], "errors": errors},
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    slug = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large"}.get(
        error.status_code, "http-error"
    )
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    title = slug.replace("-", " ").capitalize()
    return problem(error.status_code, slug, title, str(error.detail), headers or None)


METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on this path, HEAD wherever GET is (api/middleware/
    representation.py answers it), found by asking each route whether it would take the request
    under that method. Starlette's own Allow names only the first route whose path matched, and
    `/v1/tools` is two routes (GET, POST). Only 405s pay for the asking."""
    routes: list[BaseRoute] = request.app.router.routes
    methods = [
        method
        for method in METHOD_ORDER
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    if "GET" in methods and "HEAD" not in methods:
        methods.insert(1, "HEAD")
    return methods


def prefers_html(accept: str) -> bool:
    """Whether an Accept header (RFC 9110 §12.5.1) weighs HTML above JSON: what a browser
    navigating sends, not what curl (`*/*`) or an API client (`application/json`) does."""
    weights: dict[str, float] = {}
    for item in accept.split(","):
        media, _, params = item.partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        weights[media.strip().lower()] = q
    html = max(weights.get("text/html", 0.0), weights.get("application/xhtml+xml", 0.0))
    json = max(weights.get("application/json", 0.0), weights.get(MEDIA_TYPE, 0.0))
    return html > 0 and html >= json


async def _unauthenticated(_: Request, error: Exception) -> Response:
    return problem(
        401, "unauthenticated", "Unauthenticated", str(error), {"WWW-Authenticate": "Bearer"}
    )


async def _forbidden(_: Request, error: Exception) -> Response:
    return problem(403, "forbidden", "Forbidden", str(error))


async def _rate_limited(_: Request, error: Exception) -> Response:
    assert isinstance(error, RateLimited)
    retry = str(max(1, math.ceil(error.retry_after)))
    return problem(429, error.type, "Too many requests", str(error), {"Retry-After": retry})


async def _unavailable(request: Request, error: Exception) -> Response:
    """The database connection failed (restart, failover, pool exhausted), or its disk is full:
    the transaction rolled back, nothing was written, so a retry is safe; the cause is logged,
    not sent. A full disk waits for an operator to free space, hence the longer Retry-After;
    the store takes writes again by itself once there is room (scripts/drill.py, disk_full)."""
    if disk_full(error):
        log.error("disk full during %s %s: %s", request.method, request.url.path, error)
        detail = "the ledger's disk is full: nothing was written; retry later"
        return problem(503, "storage-full", "Storage full", detail, {"Retry-After": "30"})
    log.warning("database unavailable during %s %s: %s", request.method, request.url.path, error)
    detail = "the database cannot be reached right now; retry shortly"
    return problem(503, "unavailable", "Service unavailable", detail, {"Retry-After": "1"})


def disk_full(error: BaseException) -> bool:
    """eventsourcing wraps the driver's error (`raise OperationalError(e) from e`): SQLite's
    SQLITE_FULL ("database or disk is full") or PostgreSQL's 53100 (disk_full)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, sqlite3.Error) and cause.sqlite_errorcode == sqlite3.SQLITE_FULL:
            return True
        if isinstance(cause, psycopg.errors.DiskFull):
            return True
        cause = cause.__cause__
    return False


async def internal_error(request: Request, _: Exception) -> Response:
    """A bug: a fixed text, never the error's class or message (the server logs the traceback,
    since Starlette re-raises after answering). api/middleware/security_headers.py installs it,
    as Starlette sends this answer from outside every middleware."""
    detail = "the server failed to answer this request; the error has been logged"
    return problem(500, "internal-error", "Internal server error", detail)


Handler = Callable[[Request, Exception], Awaitable[Response]]
HANDLERS: dict[type[Exception], Handler] = {
    Unauthenticated: _unauthenticated,
    Forbidden: _forbidden,
    RateLimited: _rate_limited,
    LedgerError: _ledger_error,
    RequestValidationError: _validation_error,
    HTTPException: _http_error,
    OperationalError: _unavailable,
    InterfaceError: _unavailable,
}
"""Every error that becomes a problem+json answer, and how."""
HANDLED = tuple(HANDLERS)


async def answer(request: Request, error: Exception) -> Response:
    """The problem+json answer to `error` (one of HANDLED), for code that runs outside FastAPI's
    exception handling (the vote lane, api/voting/lane.py): the same answer a route would get."""
    for cls in type(error).__mro__:
        handler = HANDLERS.get(cls)
        if handler is not None:
            return await handler(request, error)
    raise error


Page = Callable[[Request], Response]


def install(app: FastAPI, not_found_page: Page | None = None) -> None:
    """The handlers; with `not_found_page`, a browser asking for a path no route has gets that
    HTML page (it reads the views, so it runs in the thread pool) instead of problem+json."""
    for error, handler in HANDLERS.items():
        app.add_exception_handler(error, handler)
    if not_found_page is None:
        return
    page = not_found_page

    async def negotiated(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code == 404 and prefers_html(request.headers.get("accept", "")):
            return await run_in_threadpool(page, request)
        return await _http_error(request, error)

    app.add_exception_handler(HTTPException, negotiated)
