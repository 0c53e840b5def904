"""The FastAPI app factory: one composition root, settings in, app out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from api import problems
from api.bootstrap import PROJECTIONS
from api.middleware import security_headers
from api.middleware.body_limit import BodySizeLimit
from api.middleware.forwarded import ForwardedClient
from api.middleware.representation import Representation
from api.own_writes import OwnWrites
from api.routes import audit, health, metrics, moderation, reads, writes
from api.series import observe_write_batch
from api.server.collector import settle_garbage_collector
from api.server.logs import AccessLog
from api.server.processes import start_runtime
from api.server.supervisor import ProjectionWorkers
from api.site import api_docs, editor, moderation_queue, pages
from api.voting.lane import VoteLane
from api.voting.ratelimit import Rate, RateLimiter
from api.voting.registrations import Registrations
from api.voting.votes import Voting
from domain.settings import Projections, Settings

log = logging.getLogger("verdict.workers")

START_CATCH_UP_SECONDS = 30.0
"""How long `verdict serve` waits, before taking requests, for its projection workers to fold
the log as it stands (a first start folds the demo data in well under a second)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app over `settings`; where its projections run is `settings.where_projections_run()`:
    in threads of this process, in `verdict project` children it starts and stops with itself
    (`verdict serve`, one worker), or in processes run elsewhere."""
    settings = settings or Settings()
    where = settings.where_projections_run()
    in_threads = where is Projections.THREADS
    registrations = RateLimiter(
        Rate(settings.voter_registrations_per_minute, settings.voter_registrations_per_minute)
    )
    votes = RateLimiter(Rate(settings.votes_per_minute, max(1, settings.votes_per_minute // 5)))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A worker started while the database restarts waits for it (api/server/processes.py).
        runtime = await anyio.to_thread.run_sync(
            start_runtime, settings, PROJECTIONS if in_threads else ()
        )
        assert runtime is not None
        workers = ProjectionWorkers(PROJECTIONS) if where is Projections.CHILDREN else None
        if workers is not None:
            workers.start()
            # Take requests once the children have folded the log as it is (the first reads
            # after `verdict serve` prints its URL see every tool), but not wait for ever.
            if not await anyio.to_thread.run_sync(runtime.wait_caught_up, START_CATCH_UP_SECONDS):
                log.warning("serving before the projections caught up; /readyz shows their lag")
        if not in_threads:
            runtime.poll_catalog()
        if runtime.ledger.ballots is not None:
            runtime.ledger.ballots.observers.append(observe_write_batch)
        app.state.runtime = runtime
        app.state.own_writes = OwnWrites()
        registry = Registrations(runtime.credentials, settings.registration_retention_days)
        await anyio.to_thread.run_sync(registry.purge)  # a quiet ledger is swept at start
        app.state.voting = Voting(
            runtime.ledger,
            runtime.credentials,
            registry,
            registrations,
            votes,
            runtime.sealer.seal,
            app.state.own_writes,
        )
        settle_garbage_collector()
        try:
            yield
        finally:
            if workers is not None:
                await anyio.to_thread.run_sync(workers.stop)
            runtime.close()

    app = FastAPI(
        title="Verdict Ledger",
        version="1",
        summary="Panel verdicts and community votes on AI tools, replayable from an event log.",
        lifespan=lifespan,
        docs_url=None,  # api/site/api_docs.py serves /docs without a CDN
        redoc_url=None,
        # Prometheus (/metrics) is this service's telemetry: no OpenTelemetry provider is ever
        # configured, and FastAPI would look for one on every request (docs/performance.md).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_middleware(app, settings)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(reads.router)
    app.include_router(writes.router)
    app.include_router(moderation.router)
    app.include_router(audit.router)
    app.include_router(pages.router)
    app.include_router(editor.router)
    app.include_router(api_docs.router)
    app.include_router(moderation_queue.router)
    return app


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Every request's path through the app before a route, and the error mapping: defined
    once, so scripts/bench/ceiling.py's no-database vote measures this very stack."""
    app.add_middleware(VoteLane)  # innermost: the observers and limits below see its answers
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Representation)  # coding, ETag and 304, HEAD: inside the headers below
    security_headers.install(app, settings.cors_origins)
    app.add_middleware(metrics.RequestMetrics)
    if settings.access_log:
        app.add_middleware(AccessLog)
    app.add_middleware(ForwardedClient, trusted=settings.trusted_proxies)  # outermost
    problems.install(app, not_found_page=pages.not_found_page)


def from_environment() -> FastAPI:
    """The app for `uvicorn --factory api.app:from_environment`, which is what each worker of
    `verdict serve --workers N` runs: settings from the VERDICT_* environment."""
    return create_app(Settings())
