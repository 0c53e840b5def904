"""Security headers on every response, and CORS closed unless origins are configured.

Pages set their own Content-Security-Policy (api/site/pages.py); anything a route set is kept, and
the rest is filled in here. JSON gets `default-src 'none'`: a browser that is somehow made to
render an API answer runs nothing from it. HTML that sets no policy of its own only gets
`frame-ancestors 'none'`.

CORS closed means: no response carries `Access-Control-Allow-Origin`, so another site's script
can read nothing, and a preflight is refused with 403, so it cannot send a vote with a token
either. `VERDICT_CORS_ORIGINS` opens reads (GET, HEAD, no credentials) to the listed origins
only; writes stay same-origin."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware.http_only import HttpMiddleware
from api.problems import internal_error, problem

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
"""The one table, for pages too. `same-origin`: no Referer ever leaves for another site, and a
page's vote form still sends its real Origin, which the form's CSRF check compares (under
`no-referrer` a browser sends `Origin: null` on every POST). HSTS is ignored by browsers over
plain HTTP, so it is safe to send on 127.0.0.1 too."""
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HTML_CSP = "frame-ancestors 'none'"


_RAW_HEADERS = [(name.lower().encode(), value.encode()) for name, value in HEADERS.items()]
_CSP = b"content-security-policy"


def _secured(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response's headers plus each of ours it does not set itself (a route's own wins)."""
    headers = list(raw)
    present: dict[bytes, bytes] = {}
    for name, value in headers:
        present.setdefault(name.lower(), value)
    headers += [(name, value) for name, value in _RAW_HEADERS if name not in present]
    if _CSP not in present:
        html = present.get(b"content-type", b"").startswith(b"text/html")
        headers.append((_CSP, (HTML_CSP if html else API_CSP).encode()))
    return headers


def _is_preflight(scope: Scope) -> bool:
    if scope["method"] != "OPTIONS":
        return False
    headers = Headers(scope=scope)
    return "origin" in headers and "access-control-request-method" in headers


class SecurityHeaders(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, cors_closed: bool = True) -> None:
        super().__init__(app)
        self.cors_closed = cors_closed

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(message.get("headers", ()))
            await send(message)

        if self.cors_closed and _is_preflight(scope):
            refused = problem(
                403, "cors-refused", "Cross-origin request refused", "CORS is closed on this API"
            )
            await refused(scope, receive, secured)
            return
        await self.app(scope, receive, secured)


async def _secured_internal_error(request: Request, error: Exception) -> Response:
    """The 500 answer, with the headers: Starlette sends it from outside every middleware (its
    ServerErrorMiddleware wraps them all), so SecurityHeaders never sees it."""
    answer = await internal_error(request, error)
    answer.raw_headers[:] = _secured(answer.raw_headers)
    return answer


def install(app: FastAPI, cors_origins: list[str]) -> None:
    """Add the headers (to unhandled errors' answers too), and CORS for reads from
    `cors_origins` if any are configured."""
    app.add_exception_handler(500, _secured_internal_error)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "HEAD"],
            allow_credentials=False,
        )
    app.add_middleware(SecurityHeaders, cors_closed=not cors_origins)
