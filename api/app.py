"""The FastAPI app factory: one composition root, settings in, app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems, reads
from api.bootstrap import open_runtime
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
    problems.install(app)
    app.include_router(reads.router)
    return app
