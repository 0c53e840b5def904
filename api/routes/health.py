"""Liveness and readiness, for load balancers and supervisors.

`/healthz` says the process answers and touches nothing else: a database outage must not get
every worker restarted. `/readyz` says this worker can serve: the database answers through its
own connection pool, and every projection is within `ready_max_lag` log positions of the end of
the log (lag = the store's last notification id - the projection's tracked position); a projection
being rebuilt beside its serving views is listed under `rebuilding` (the old views serve, so it
does not make the worker unready). Both are
left out of the OpenAPI schema: they are for machines, not API clients."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import orjson
from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Request
from starlette.responses import Response

from api.bootstrap import PROJECTIONS, Runtime

READY_TIMEOUT_SECONDS = 2.0
"""A probe that takes longer answers 503 (the pool may be waiting for a dead server)."""

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Probe:
    """What the database said: the end of the log and each projection's position, or why not."""

    error: str | None = None
    log_position: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    rebuilding: dict[str, dict[str, int]] = field(default_factory=dict)
    """Projections being rebuilt beside their serving views: version and position."""

    @property
    def database_up(self) -> bool:
        return self.error is None

    def lag(self) -> dict[str, int]:
        return {name: max(0, self.log_position - p) for name, p in self.positions.items()}


def probe(runtime: Runtime) -> Probe:
    """Read the end of the log and every projection's position through this process's pool."""
    try:
        end = runtime.ledger.recorder.max_notification_id() or 0
        positions = {name: runtime.views.tracking.tracked(name)[0] for name in PROJECTIONS}
        rebuilding = runtime.rebuilding()
    except PersistenceError as error:
        return Probe(error=type(error).__name__)
    return Probe(log_position=end, positions=positions, rebuilding=rebuilding)


async def probe_in_time(runtime: Runtime) -> Probe:
    """`probe` in a worker thread, abandoned (answering 'timeout') after READY_TIMEOUT_SECONDS."""
    with anyio.move_on_after(READY_TIMEOUT_SECONDS):
        return await anyio.to_thread.run_sync(probe, runtime, abandon_on_cancel=True)
    return Probe(error="timeout")


def _json(body: Mapping[str, object], status: int) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/healthz")
async def healthz() -> Response:
    return _json({"status": "alive"}, 200)


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    found = await probe_in_time(runtime)
    if not found.database_up:
        down = {"status": "unready", "database": "unreachable", "error": found.error}
        return _json(down, 503)
    max_lag = runtime.settings.ready_max_lag
    lag = found.lag()
    ready = all(behind <= max_lag for behind in lag.values())
    body: dict[str, object] = {
        "status": "ready" if ready else "unready",
        "database": "ok",
        "log_position": found.log_position,
        "max_lag": max_lag,
        "projections": {
            name: {"position": found.positions[name], "lag": behind} for name, behind in lag.items()
        },
    }
    if found.rebuilding:  # the serving views answer meanwhile, so readiness is unchanged
        body["rebuilding"] = {
            name: {**building, "of": found.log_position}
            for name, building in found.rebuilding.items()
        }
    return _json(body, 200 if ready else 503)
