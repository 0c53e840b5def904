"""/healthz and /readyz: alive without the database; ready only with the database reachable and
every projection close enough to the end of the log."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from domain.settings import Projections, Settings
from projections.following.follower import Follower
from tests.conftest import POSTGRES_ADMIN_URL
from tests.scripts.drill_harness import app_client, seeded


def ready_when_caught_up(client: TestClient, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get("/readyz")
        body: dict[str, Any] = answer.json()
        lags = [p["lag"] for p in body.get("projections", {}).values()]
        if answer.status_code == 200 and lags and not any(lags):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_healthz_says_alive_and_touches_nothing(settings: Settings) -> None:
    """200 {"status": "alive"}, not cached, not in the API schema."""
    seeded(settings)
    with app_client(settings) as client:
        answer = client.get("/healthz")
        assert (answer.status_code, answer.json()) == (200, {"status": "alive"})
        assert answer.headers["cache-control"] == "no-store"
        assert "/healthz" not in client.get("/openapi.json").json()["paths"]


def test_readyz_reports_the_log_end_and_every_projection(settings: Settings) -> None:
    """Ready: the database answers, and catalog and audit are at the end of the log."""
    seeded(settings)
    with app_client(settings) as client:
        body = ready_when_caught_up(client)
        end = client.app.state.runtime.ledger.recorder.max_notification_id()  # type: ignore[attr-defined]  # TestClient.app: any ASGI app
        assert body["database"] == "ok"
        assert body["log_position"] == end
        assert body["projections"] == {
            "catalog": {"position": end, "lag": 0},
            "audit": {"position": end, "lag": 0},
        }


def test_readyz_is_503_while_a_projection_lags_too_far(settings: Settings) -> None:
    """Nobody follows and ready_max_lag is 0: one vote makes it 503; a catch-up makes it 200."""
    seeded(settings)
    strict = settings.model_copy(update={"ready_max_lag": 0, "projections": Projections.EXTERNAL})
    with app_client(strict) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]  # TestClient.app: any ASGI app
        for projection in runtime.projections():
            Follower(runtime.ledger.recorder, projection).catch_up()
        assert client.get("/readyz").status_code == 200
        token = client.post("/v1/voters").json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.put("/v1/tools/smollm3/vote", json={"choice": "ship"}, headers=headers)
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["status"] == "unready"
        assert answer.json()["projections"]["catalog"]["lag"] == 1
        for projection in runtime.projections():
            Follower(runtime.ledger.recorder, projection).catch_up()
        assert client.get("/readyz").status_code == 200


@pytest.mark.postgres
def test_readyz_is_503_when_the_database_is_unreachable(postgres_url: str) -> None:
    """The database goes away under a running app: /readyz 503 within its 2 s budget, /healthz
    still 200, and a read answers 503 problem+json with Retry-After (not a 500, no host)."""
    settings = Settings(database_url=postgres_url, projections=Projections.EXTERNAL)
    seeded(settings)
    with app_client(settings) as client:  # no follower threads to wind down
        runtime = client.app.state.runtime  # type: ignore[attr-defined]  # TestClient.app: any ASGI app
        for projection in runtime.projections():
            Follower(runtime.ledger.recorder, projection).catch_up()
        assert client.get("/readyz").status_code == 200
        name = postgres_url.rsplit("/", 1)[1]
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        started = time.monotonic()
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["database"] == "unreachable"
        assert time.monotonic() - started < 3
        assert client.get("/healthz").status_code == 200
        read = client.get("/v1/tools")  # after the pool's 5 s wait for a connection
        assert read.status_code == 503
        assert read.headers["content-type"] == "application/problem+json"
        assert read.headers["retry-after"] == "1"
        assert "127.0.0.1" not in read.text and name not in read.text
