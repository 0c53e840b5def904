"""Refuse request bodies over the limit before they are read whole (413)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware.http_only import HttpMiddleware


def _exceeds(length: bytes, limit: int) -> bool:
    """Whether a Content-Length of ASCII digits is over `limit`; one longer than the limit's own
    digits is, without asking `int()` (which refuses numbers over 4,300 digits with an error)."""
    digits = length.lstrip(b"0") or b"0"
    return len(digits) > len(str(limit)) or int(digits) > limit


class BodySizeLimit(HttpMiddleware):
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and _exceeds(value, self.max_bytes):
                scope["verdict.too_large"] = True
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            if scope.get("verdict.too_large"):
                raise HTTPException(413, f"request body is larger than {self.max_bytes} bytes")
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, f"request body is larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)
