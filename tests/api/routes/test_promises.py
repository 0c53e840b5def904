"""Every write's receipt carries the log's signed promise, on SQLite and PostgreSQL: it opens
with the published log key, names the receipt's own position and leaf hash (the leaf the log
then records), and is due within the promise window. Votes through the fast lane, through the
route, and written alone (no group commit) alike; VERDICT_PROMISES=false leaves it out."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit.promise import open_promise

EDITOR_WRITES = [
    (
        "POST",
        "/v1/tools",
        {
            "slug": "new-tool",
            "name": "New Tool",
            "category": "Developer Tools",
            "tagline": "Fresh",
            "description": "Listed by the tests.",
            "pricing": "Free",
        },
    ),
    (
        "PUT",
        "/v1/tools/new-tool/verdicts/builder",
        {"reviewer": "B", "decision": "ship", "text": "Fine."},
    ),
    ("POST", "/v1/comparisons", {"left": "new-tool", "right": "smollm3"}),
]


def app_with(settings: Settings) -> tuple[TestClient, dict[str, str]]:
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    editor = runtime.credentials.create_key("ann")
    runtime.close()
    return TestClient(create_app(settings)), {"Authorization": f"Bearer {editor}"}


@pytest.fixture(params=[True, False], ids=["group-commit", "alone"])
def served(
    request: pytest.FixtureRequest, settings: Settings
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    client, editor = app_with(settings.model_copy(update={"group_commit": request.param}))
    with client:
        yield client, editor


def receipts(client: TestClient, editor: dict[str, str]) -> list[dict[str, Any]]:
    """One receipt of each kind of write: editorial ones, a vote through the fast lane, and one
    the lane leaves to the route (an escaped body)."""
    found = []
    for method, path, body in EDITOR_WRITES:
        answer = client.request(method, path, json=body, headers=editor)
        assert answer.status_code == 201, answer.text
        found.append(answer.json()["receipt"])
    for body in ('{"choice": "ship"}', '{"choice": "sh\\u0069p"}'):
        token = client.post("/v1/voters").json()["token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        answer = client.put("/v1/tools/smollm3/vote", content=body, headers=headers)
        assert answer.status_code == 201, answer.text
        found.append(answer.json()["receipt"])
    return found


def test_every_receipt_carries_a_promise_for_its_own_leaf(
    served: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    """Each promise opens with the log key, names the receipt's position with its leaf hash,
    is due within VERDICT_PROMISE_SECONDS, and the log then records that very leaf."""
    client, editor = served
    vkey = client.get("/v1/audit/public-key").json()["verifier_key"]
    before = datetime.now(UTC).replace(microsecond=0)
    found = receipts(client, editor)
    window = timedelta(seconds=settings.promise_seconds)
    for receipt in found:
        promise = open_promise(receipt["promise"], vkey)
        assert promise.origin == settings.log_origin
        assert promise.leaf_hash(receipt["position"]) == base64.b64decode(receipt["leaf_hash"])
        assert before + window <= promise.by <= datetime.now(UTC) + window
    last = found[-1]["position"]
    deadline = time.monotonic() + 10
    while (
        proof := client.get("/v1/audit/proofs/inclusion", params={"position": last})
    ).status_code != 200:
        assert time.monotonic() < deadline, "the log did not record the writes in 10 s"
        time.sleep(0.02)
    for receipt in found:
        proof = client.get("/v1/audit/proofs/inclusion", params={"position": receipt["position"]})
        assert proof.json()["leaf_hash"] == receipt["leaf_hash"]


def test_promises_can_be_turned_off(settings: Settings) -> None:
    """VERDICT_PROMISES=false: receipts keep position and leaf hash, with promise null."""
    client, editor = app_with(settings.model_copy(update={"promises": False}))
    with client:
        found = receipts(client, editor)
    assert all(r["promise"] is None and r["leaf_hash"] for r in found)
