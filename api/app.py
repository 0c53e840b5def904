"""The FastAPI app factory: one composition root, settings in, app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import audit, pages, problems, reads, writes
from api.bootstrap import open_runtime
from api.limits import BodySizeLimit
from api.ratelimit import Rate, RateLimiter
from domain.settings import Settings


def create_app(settings: Settings | None = None, *, follow: bool = True) -> FastAPI:
    """`follow=False` leaves the views to a separate projection worker (`verdict project`)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = open_runtime(settings)
        if follow:
            runtime.follow()
        app.state.runtime = runtime
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(
        title="Verdict Ledger",
        version="1",
        summary="Panel verdicts and community votes on AI tools, replayable from an event log.",
        lifespan=lifespan,
    )
    app.state.registrations = RateLimiter(
        Rate(settings.voter_registrations_per_minute, settings.voter_registrations_per_minute)
    )
    app.state.votes = RateLimiter(
        Rate(settings.votes_per_minute, max(1, settings.votes_per_minute // 5))
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    problems.install(app)
    app.include_router(reads.router)
    app.include_router(writes.router)
    app.include_router(audit.router)
    app.include_router(pages.router)
    return app
