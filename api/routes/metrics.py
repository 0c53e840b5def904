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
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
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
from api.series import ERRORS, LATENCY, MULTIPROC_ENV, REQUESTS, VOTE_ROUTE, VOTES


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
