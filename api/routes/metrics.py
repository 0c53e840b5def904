"""Prometheus metrics at `/metrics`: requests and errors by status, latencies, votes, batch sizes
and each projection's lag.

Counters and histograms are kept per process. Under `verdict serve --workers N` the CLI points
PROMETHEUS_MULTIPROC_DIR at a fresh folder, every worker writes its figures there, and a scrape
that reaches any worker adds them all up (prometheus-client's multiprocess mode). Log and
projection positions are read from the database at scrape time, so every worker reports the
same lag whichever one a scrape reaches, and a projection running in its own process
(`verdict project`) is watched all the same. Witness refusals are counted where witnesses are
asked (api/server/witnessing.py), in the same registry."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Scope

from api.middleware.observed import ObservedRequests
from api.routes.health import Probe, probe_in_time

# `*_created` series are noise for counters that live as long as their process.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
VOTE_ROUTE = "/v1/tools/{slug}/vote"

REQUESTS = Counter("verdict_http_requests", "HTTP requests answered", ["method", "route", "status"])
ERRORS = Counter("verdict_http_errors", "HTTP requests answered with a 4xx or 5xx", ["status"])
LATENCY = Histogram(
    "verdict_http_request_duration_seconds",
    "Time from request to the end of the response",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
VOTES = Counter(
    "verdict_votes",
    "Vote requests by result: new (201), update (200 PUT: changed or unchanged), "
    "retract (200 DELETE), refused (4xx), failed (5xx)",
    ["result"],
)
PROJECTION_BATCH = Histogram(
    "verdict_projection_batch_events",
    "Events per committed projection batch (one transaction each)",
    ["projection"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
)
WRITE_BATCH = Histogram(
    "verdict_write_batch_events",
    "Events per event-store transaction on the write path (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


def batch_observer(projection: str) -> Callable[[int], None]:
    """For `Runtime.follow(on_batch=...)`: records the size of each committed batch."""
    child = PROJECTION_BATCH.labels(projection)

    def observe(events: int) -> None:
        child.observe(events)

    return observe


def observe_write_batch(events: int) -> None:
    """Record one store transaction of `events` events on the write path."""
    WRITE_BATCH.observe(events)


def _vote_result(method: str, status: int) -> str:
    if status >= 500:
        return "failed"
    if status >= 400:
        return "refused"
    if method == "DELETE":
        return "retract"
    return "new" if status == 201 else "update"


class RequestMetrics(ObservedRequests):
    """Counts and times every HTTP request by method, route template (not the raw path, so the
    number of series stays bounded) and status."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self._series: dict[tuple[str, str, int], list[Any]] = {}

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"]
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._children(method, route, status)
        latency, *counters = series
        latency.observe(seconds)
        for counter in counters:
            counter.inc()

    @staticmethod
    def _children(method: str, route: str, status: int) -> list[Any]:
        """The latency histogram and the counters one (method, route, status) moves: looked
        up once, since `labels()` takes a lock and builds a key on every call."""
        children: list[Any] = [
            LATENCY.labels(method, route),
            REQUESTS.labels(method, route, str(status)),
        ]
        if status >= 400:
            children.append(ERRORS.labels(str(status)))
        if route == VOTE_ROUTE and method in ("PUT", "DELETE"):
            children.append(VOTES.labels(_vote_result(method, status)))
        return children


class DatabaseFigures(Collector):
    """Gauges read from the database at scrape time: the log's end and each projection's
    position and lag, and whether the database answered at all."""

    def __init__(self, found: Probe) -> None:
        self.found = found

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("verdict_database_up", "1 if the database answered the scrape")
        up.add_metric([], 1.0 if self.found.database_up else 0.0)
        yield up
        if not self.found.database_up:
            return
        end = GaugeMetricFamily("verdict_log_position", "Notification id of the last event")
        end.add_metric([], self.found.log_position)
        yield end
        position = GaugeMetricFamily(
            "verdict_projection_position",
            "Last log position a projection committed",
            labels=["projection"],
        )
        lag = GaugeMetricFamily(
            "verdict_projection_lag",
            "Log positions a projection is behind the log",
            labels=["projection"],
        )
        for name, behind in self.found.lag().items():
            position.add_metric([name], self.found.positions[name])
            lag.add_metric([name], behind)
        yield position
        yield lag


def exposition(found: Probe) -> bytes:
    """This process's (or, in multiprocess mode, every worker's) metrics and the database's."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
        local = generate_latest(registry)
    else:
        local = generate_latest(REGISTRY)
    database = CollectorRegistry()
    database.register(DatabaseFigures(found))
    return local + generate_latest(database)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    found = await probe_in_time(request.app.state.runtime)
    body = await run_in_threadpool(exposition, found)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
