"""Security headers on every response, CORS closed by default (open for reads only to listed
origins), and credentials kept only as hashes: no key or token in the database or the events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.middleware.security_headers import API_CSP, HEADERS
from domain.settings import Settings
from tests.scripts.drill_harness import app_client, drill, seeded

EVIL = "https://evil.example"


@pytest.fixture
def sqlite(tmp_path: Path) -> Settings:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    seeded(settings)
    return settings


def test_api_answers_and_problems_carry_the_security_headers(sqlite: Settings) -> None:
    """JSON answers, problem+json errors and health checks: nosniff, DENY, a CSP that runs
    nothing, HSTS."""
    with app_client(sqlite) as client:
        for answer in (
            client.get("/v1/tools"),
            client.get("/v1/tools/ghost"),
            client.put("/v1/tools/smollm3/vote", json={"choice": "ship"}),
            client.get("/healthz"),
        ):
            for name, value in HEADERS.items():
                assert answer.headers[name] == value, (answer.request.url, name)
            assert answer.headers["content-security-policy"] == API_CSP


def test_an_unhandled_error_is_a_problem_with_the_security_headers(sqlite: Settings) -> None:
    """A route that raises: 500, problem+json with a fixed text (no class name, no trace), and
    every security header, although the answer is made outside the middleware stack."""
    app = create_app(sqlite)

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/v1/boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "secret" not in answer.text and "RuntimeError" not in answer.text
    for name, value in HEADERS.items():
        assert answer.headers[name] == value, name
    assert answer.headers["content-security-policy"] == API_CSP


def test_pages_keep_their_own_policy_and_gain_the_rest(sqlite: Settings) -> None:
    """An HTML page keeps the CSP and Referrer-Policy pages set, and gets the other headers."""
    with app_client(sqlite) as client:
        page = client.get("/")
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        docs = client.get("/docs").headers["content-security-policy"]
        assert "script-src 'self';" in docs and "frame-ancestors 'none'" in docs


NO_REFERER_TO_OTHER_SITES = {"no-referrer", "same-origin"}
"""Referrer Policy, §3: the policies under which a request to another origin has no Referer."""
NULL_ORIGIN_ON_POST = {"no-referrer"}
"""Fetch, "append a request `Origin` header": a same-origin POST carries `Origin: null`."""


def test_one_referrer_policy_leaks_nothing_and_keeps_the_forms_origin(sqlite: Settings) -> None:
    """API answers, pages and the API docs all carry the one table's Referrer-Policy, a value
    that sends no Referer to another site and leaves the vote form the Origin its CSRF check
    reads (the page form refuses `Origin: null`)."""
    policy = HEADERS["Referrer-Policy"]
    assert policy in NO_REFERER_TO_OTHER_SITES - NULL_ORIGIN_ON_POST
    with app_client(sqlite) as client:
        for path in ("/v1/tools", "/", "/tools/smollm3", "/docs", "/v1/tools/ghost"):
            assert client.get(path).headers["referrer-policy"] == policy, path


def test_cors_is_closed_by_default(sqlite: Settings) -> None:
    """Another site's script gets no Access-Control-Allow-Origin, and its preflight a 403."""
    with app_client(sqlite) as client:
        read = client.get("/v1/tools", headers={"Origin": EVIL})
        assert read.status_code == 200
        assert "access-control-allow-origin" not in read.headers
        preflight = client.options(
            "/v1/tools/smollm3/vote",
            headers={
                "Origin": EVIL,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 403
        assert preflight.headers["content-type"] == "application/problem+json"
        assert not any(h.startswith("access-control-") for h in preflight.headers)


def test_listed_origins_may_read_but_not_write(sqlite: Settings) -> None:
    """VERDICT_CORS_ORIGINS opens GET to the listed origin only; a PUT preflight stays refused."""
    friend = "https://friend.example"
    with app_client(sqlite.model_copy(update={"cors_origins": [friend]})) as client:
        read = client.get("/v1/tools", headers={"Origin": friend})
        assert read.headers["access-control-allow-origin"] == friend
        assert "access-control-allow-credentials" not in read.headers
        other = client.get("/v1/tools", headers={"Origin": EVIL})
        assert "access-control-allow-origin" not in other.headers
        put = client.options(
            "/v1/tools/smollm3/vote",
            headers={"Origin": friend, "Access-Control-Request-Method": "PUT"},
        )
        assert put.status_code >= 400
        assert "PUT" not in put.headers.get("access-control-allow-methods", "")


def test_keys_and_tokens_are_never_stored_in_the_clear(settings: Settings, tmp_path: Path) -> None:
    """After an editor writes and a voter votes, neither the key nor the token (nor its MAC)
    appears in any table: api_keys holds the key's SHA-256, events name `editor:ann` and
    `voter:<id>` only."""
    key = seeded(settings)
    with app_client(settings) as client:
        token = client.post("/v1/voters").json()["token"]
        assert client.put(
            "/v1/tools/smollm3/vote",
            json={"choice": "ship"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert client.patch(
            "/v1/tools/smollm3",
            json={"pricing": "Paid", "reason": "tests"},
            headers={"Authorization": f"Bearer {key}"},
        )
    store = drill.Store("postgres" if settings.is_postgres else "sqlite", settings.database_url)
    events = store.events()
    dumped = repr([e.state for e in events]) + repr(store.rows("api_keys"))
    for secret in (key, key.removeprefix("vle_"), token, token.partition(".")[2]):
        assert secret not in dumped
    actors = {json.loads(e.state)["actor"] for e in events[-2:]}
    assert actors == {f"voter:{token.partition('.')[0]}", "editor:ann"}
