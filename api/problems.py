"""RFC 9457 problem details: the one place where errors become HTTP responses."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from domain.errors import Conflict, InvalidInput, LedgerError, NotFound

PROBLEM_BASE = "https://verdict-ledger.dev/problems/"
MEDIA_TYPE = "application/problem+json"

STATUS_BY_ERROR: list[tuple[type[LedgerError], int]] = [
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
]


def problem(status: int, type_: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": PROBLEM_BASE + type_, "title": title, "status": status, "detail": detail}
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE)


def status_of(error: LedgerError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 400


async def _ledger_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, LedgerError)
    extra = {"field": error.field} if isinstance(error, InvalidInput) else {}
    title = type(error).__name__
    return problem(status_of(error), error.type, title, error.detail, **extra)


async def _validation_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), "message": e["msg"]}
        for e in error.errors()
    ]
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    return problem(
        422,
        "invalid-input",
        "InvalidInput",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        errors=errors,
    )


async def _http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
    return problem(error.status_code, slug, slug.replace("-", " ").capitalize(), str(error.detail))


def install(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
