"""The vote route's fast lane: a well-formed `PUT|DELETE /v1/tools/{slug}/vote` from a voter is
answered here, before FastAPI's router, dependency solving and response validation, which cost
several times what deciding and storing the vote does (docs/performance.md).

It answers only what it is sure of, and exactly as the documented route would: a voter token
that verifies, a JSON body `{"choice": "ship"|"skip"}` of a few bytes (no escapes, one key) or,
for a DELETE, no body. It then calls the same use case as the route (api/voting/votes.py) and
shapes the same `VoteResult`; refusals become problem+json through api/problems.py, as anywhere.
Anything else — a bad or missing credential, an editor key, malformed or odd JSON, another
media type, a chunked body — goes on to the route unchanged (with the body it read, replayed),
so every rule about odd input stays in one place. The route stays in the OpenAPI schema and
serves those requests. It sits inside the access log, metrics, security headers and body-size
limit, so they see its answers like any other; it names the route in the scope for metrics."""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.middleware.http_only import HttpMiddleware
from api.own_writes import client_of
from api.routes.writes import router, vote_status, voted
from api.schemas import VoteResult
from api.voting.credentials import EDITOR_KEY_PREFIX, Credentials, Principal
from api.voting.votes import Voting
from domain.rules import Surface

VOTE_PATH = re.compile(r"/v1/tools/([^/]+)/vote")
ROUTE_PATH = "/v1/tools/{slug}/vote"
MAX_BODY = 256
"""A vote body is ~20 bytes; longer ones go to the route (and its limits)."""
_WANTED = {b"authorization", b"content-type", b"content-length", b"transfer-encoding"}
_JSON_HEADERS = [(b"content-type", b"application/json")]


def vote_choice(body: bytes) -> Literal["ship", "skip"] | None:
    """The choice of a body the route would read as exactly `{"choice": "ship"|"skip"}`, or
    None when the lane should leave the body to the route (anything unusual)."""
    if b"\\" in body or body.count(b'"choice"') != 1:
        return None  # escapes or repeated keys: let the route's own JSON reading decide
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(parsed) is not dict or len(parsed) != 1:
        return None
    choice = parsed.get("choice")
    if choice == "ship":
        return "ship"
    if choice == "skip":
        return "skip"
    return None


class VoteLane(HttpMiddleware):
    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self._routes: dict[str, Any] = {}

    def _passes(self, scope: Scope) -> bool:
        return super()._passes(scope) or scope["method"] not in ("PUT", "DELETE")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = VOTE_PATH.fullmatch(scope["path"])
        headers = _headers(scope) if found else None
        who = self._voter(scope, headers) if headers is not None else None
        if found is None or headers is None or who is None:
            await self.app(scope, receive, send)
            return
        choice: Literal["ship", "skip"] | None = None
        if scope["method"] == "PUT":
            length = headers.get(b"content-length", b"")
            media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if media != b"application/json" or not _small(length):
                await self.app(scope, receive, send)
                return
            messages, body = await _read_body(receive)
            choice = vote_choice(body)
            if choice is None:
                await self.app(scope, _replaying(messages, receive), send)
                return
        elif headers.get(b"content-length", b"0") != b"0":
            await self.app(scope, receive, send)  # a DELETE with a body: the route's business
            return
        await self._answer(scope, receive, send, found.group(1), who, choice)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        slug: str,
        who: Principal,
        choice: Literal["ship", "skip"] | None,
    ) -> None:
        scope["route"] = self._route(scope)
        try:
            voting: Voting = scope["app"].state.voting
            answer = await voting.vote(slug, choice, who, client_of(scope), surface=Surface.API)
            receipt = answer.receipt
        except problems.HANDLED as error:
            refusal = await problems.answer(Request(scope, receive), error)
            await refusal(scope, receive, send)
            return
        status = vote_status(receipt)
        result: VoteResult = voted(slug, who.name, receipt)
        body = result.__pydantic_serializer__.to_json(result)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *_JSON_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _voter(scope: Scope, headers: dict[bytes, bytes]) -> Principal | None:
        """The voter whose token verifies, or None (no token, an editor key, a bad token)."""
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or token.startswith(EDITOR_KEY_PREFIX):
            return None
        credentials: Credentials = scope["app"].state.runtime.credentials
        return credentials.voter(token)

    def _route(self, scope: Scope) -> Any:
        """The documented route of this method, which metrics and logs name the request by."""
        method = scope["method"]
        if method not in self._routes:
            self._routes[method] = next(
                route
                for route in router.routes
                if getattr(route, "path", None) == ROUTE_PATH
                and method in getattr(route, "methods", ())
            )
        return self._routes[method]


def _small(length: bytes) -> bool:
    """A Content-Length of a few ASCII digits, at most MAX_BODY (never `int()` of a long one)."""
    return 0 < len(length) <= 3 and length.isdigit() and int(length) <= MAX_BODY


def _headers(scope: Scope) -> dict[bytes, bytes] | None:
    """The headers the lane looks at, or None when one of them is repeated (the route's call)."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _WANTED:
            if name in found:
                return None
            found[name] = value
    if b"transfer-encoding" in found:
        return None
    return found


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    """Every message of the request body, and the body they carry."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    return messages, body


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out what the lane already read, then reads on."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
