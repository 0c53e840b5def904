"""What is sent of an answer, decided in one place for every route: its content coding, its
validator (ETag) and caching headers, a 304 for a client that holds it already, and HEAD.

Routes state facts, never headers: `reflects(request, position)` (the log position the answer
was read at, which the ETag names) and `pin(request)` (the answer is fixed by the request itself,
e.g. `?as_of=N` or a proof for a given size, so it can never change: cached for a year,
immutable). Everything else here follows from the answer's own bytes:

- The ETag is `"p<position>-<digest>"`, the digest of the request target and the identity body,
  with `-br`/`-gzip` appended for a compressed representation (RFC 9110 §8.8.3: another coding is
  another representation). It is computed after the route answered, so it is right whatever the
  route waited for: a client whose own write moved the views (api/own_writes.py) gets the newer
  answer, never a 304 for what it saw before. The route still reads; a 304 saves the sending.
- Live answers without a Cache-Control of their own get `no-cache` (store, but revalidate).
  Answers that set a cookie or `no-store`, errors, and streamed answers get no ETag.
- HEAD runs the GET route and sends its headers, Content-Length included, without the body.
- Text answers are compressed when the request asks (api/middleware/compression.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware.compression import MIN_BYTES, Compressor, compress, compressible, compressor
from api.middleware.compression import negotiate as negotiate_coding

IMMUTABLE = "public, max-age=31536000, immutable"
LIVE = "no-cache"
KEY = "verdict.representation"
_NOT_SENT_IN_304 = {b"content-length", b"content-encoding"}
"""A 304 repeats the answer's headers but these, which describe the body it has not (RFC 9110
§15.4.5). The rest stay, the Content-Security-Policy above all: a cache updates the stored
answer's headers from a 304 (RFC 9111 §4.3.4), so a 304 with other security headers than its
page's would give the page another policy (and SecurityHeaders picks a policy by Content-Type)."""


@dataclass
class Facts:
    """What the route that answered knows about its answer."""

    position: int | None = None
    pinned: bool = False


def _facts(request: Request) -> Facts:
    facts = request.scope.get(KEY)
    return facts if isinstance(facts, Facts) else Facts()  # outside the middleware: unused


def reflects(request: Request, position: int) -> None:
    """The answer shows the views at this log position (its ETag names it)."""
    _facts(request).position = position


def pin(request: Request) -> None:
    """The answer is fixed by what the request names (a log size): it never changes."""
    _facts(request).pinned = True


def etag(target: bytes, body: bytes, position: int | None) -> str:
    digest = hashlib.blake2b(target + b"\n" + body, digest_size=8).hexdigest()
    return f'"{digest}"' if position is None else f'"p{position}-{digest}"'


def _coded(tag: str, coding: str | None) -> str:
    """The ETag of the same answer in another content coding: its own, derived."""
    return tag if coding is None or not tag.endswith('"') else f'{tag[:-1]}-{coding}"'


def _opaque(tag: str) -> str:
    """The tag without W/: If-None-Match compares weakly (RFC 9110 §13.1.2)."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def not_modified(request: Headers, answer: MutableHeaders) -> bool:
    """Whether the client holds this representation already: If-None-Match, or (only without
    it) If-Modified-Since against Last-Modified."""
    match = request.get("if-none-match")
    if match is not None:
        tag = _opaque(answer.get("etag", ""))
        return match.strip() == "*" or any(_opaque(t) == tag for t in match.split(","))
    since, modified = request.get("if-modified-since"), answer.get("last-modified")
    if since is None or modified is None:
        return False
    try:
        return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):  # a date that does not parse is ignored (RFC 9110 §13.1.3)
        return False


def _vary(headers: MutableHeaders, field: str) -> None:
    present = [v.strip().lower() for v in headers.get("vary", "").split(",") if v.strip()]
    if field.lower() not in present and "*" not in present:
        headers["vary"] = ", ".join([*filter(None, [headers.get("vary")]), field])


class Representation:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        asked = Headers(scope=scope)
        coding = negotiate_coding(asked.get("accept-encoding", ""))
        readable = method in ("GET", "HEAD")
        if not readable and coding is None:  # writes that want no compression: nothing to do
            await self.app(scope, receive, send)
            return
        facts = Facts()
        inner = {**scope, "method": "GET"} if method == "HEAD" else scope
        inner[KEY] = facts
        answer = _Answer(send, asked, coding, facts, readable, method == "HEAD", _target(scope))
        try:
            await self.app(inner, receive, answer.send)
        finally:
            if inner is not scope:  # what routing learnt (the route, for metrics), method kept
                scope.update({k: v for k, v in inner.items() if k != "method"})


def _target(scope: Scope) -> bytes:
    path: str = scope.get("root_path", "") + scope["path"]
    query: bytes = scope.get("query_string", b"")
    return path.encode() + b"?" + query


@dataclass
class _Answer:
    """One answer on its way out: the head is held until the body shows whether it comes whole
    (then it is validated and compressed at once) or streamed (compressed chunk by chunk)."""

    out: Send
    asked: Headers
    coding: str | None
    facts: Facts
    readable: bool
    head: bool
    target: bytes
    start: Message | None = None
    held: list[bytes] = field(default_factory=list)
    stream: Compressor | None = None
    streaming: bool = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.out(message)
            return
        body, more = message.get("body", b""), message.get("more_body", False)
        if self.streaming:
            await self._chunk(body, more)
        elif more:
            self.held.append(body)
            if sum(map(len, self.held)) >= MIN_BYTES:
                await self._begin_stream()
        else:
            await self._whole(b"".join([*self.held, body]))

    def _headers(self) -> MutableHeaders:
        assert self.start is not None
        return MutableHeaders(raw=list(self.start.get("headers", [])))

    def _encoding_for(self, headers: MutableHeaders, *, worth_it: bool = True) -> str | None:
        """The coding to send in (None: as it is); text says Vary either way, as its coding
        depends on the request's Accept-Encoding."""
        assert self.start is not None
        if not compressible(headers.get("content-type", "")):
            return None
        _vary(headers, "Accept-Encoding")
        status = self.start["status"]
        if "content-encoding" in headers or "content-range" in headers or status in (204, 304):
            return None
        return self.coding if worth_it else None

    async def _whole(self, body: bytes) -> None:
        assert self.start is not None
        headers = self._headers()
        coding = self._encoding_for(headers, worth_it=len(body) >= MIN_BYTES)
        if self._cacheable(headers):
            tag = headers.get("etag") or etag(self.target, body, self.facts.position)
            headers["etag"] = _coded(tag, coding)
            if "cache-control" not in headers:
                headers["cache-control"] = IMMUTABLE if self.facts.pinned else LIVE
            if not_modified(self.asked, headers):
                kept = [(k, v) for k, v in headers.raw if k.lower() not in _NOT_SENT_IN_304]
                await self.out({"type": "http.response.start", "status": 304, "headers": kept})
                await self.out({"type": "http.response.body", "body": b""})
                return
        if coding is not None:
            body = compress(coding, body)
            headers["content-encoding"] = coding
            headers["content-length"] = str(len(body))
        await self.out({**self.start, "headers": headers.raw})
        await self.out({"type": "http.response.body", "body": b"" if self.head else body})

    def _cacheable(self, headers: MutableHeaders) -> bool:
        assert self.start is not None
        return (
            self.readable
            and self.start["status"] == 200
            and "set-cookie" not in headers
            and "no-store" not in headers.get("cache-control", "")
        )

    async def _begin_stream(self) -> None:
        """A body in several parts: sent as it comes, compressed if it is text."""
        assert self.start is not None
        self.streaming = True
        headers = self._headers()
        coding = self._encoding_for(headers)
        if coding is not None:
            self.stream = compressor(coding)
            headers["content-encoding"] = coding
            if "content-length" in headers:
                del headers["content-length"]
        await self.out({**self.start, "headers": headers.raw})
        held, self.held = b"".join(self.held), []
        await self._chunk(held, True)

    async def _chunk(self, body: bytes, more: bool) -> None:
        if self.stream is not None:
            body = self.stream.compress(body) + (b"" if more else self.stream.finish())
        if self.head:
            body = b""
        if body or not more:
            await self.out({"type": "http.response.body", "body": body, "more_body": more})
