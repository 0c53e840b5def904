"""A middleware base that learns each HTTP request's status and duration, for the access log and
the metrics: it watches the response start, and records in `finally`, so a request whose
handler raised is still counted (as 500)."""

from __future__ import annotations

import time

from starlette.types import Message, Receive, Scope, Send

from api.middleware.http_only import HttpMiddleware


class ObservedRequests(HttpMiddleware):
    def wanted(self) -> bool:
        """False skips the observation (e.g. a logger that is switched off)."""
        return True

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        raise NotImplementedError

    def _passes(self, scope: Scope) -> bool:
        return super()._passes(scope) or not self.wanted()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            self.record(scope, status, time.perf_counter() - started)
