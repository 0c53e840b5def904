"""The base of our ASGI middleware: it acts on HTTP requests only, and hands every other scope
(lifespan, websocket) on untouched, as any request a subclass `_passes` on."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def _passes(self, scope: Scope) -> bool:
        """Whether this request goes on to the app untouched: every scope but HTTP does."""
        return bool(scope["type"] != "http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._passes(scope):
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
