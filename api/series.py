"""The Prometheus series this process counts into, apart from the `/metrics` route
(api/routes/metrics.py) that serves them: `verdict project` records its batch sizes here and so
need not import the web stack to start (it starts with every `verdict serve`)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Histogram, disable_created_metrics

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
