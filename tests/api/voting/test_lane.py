"""The vote route's fast lane (api/voting/lane.py): a well-formed vote answered without FastAPI's
per-request machinery gets the very answer the documented route gives; anything else falls
through to that route, so odd input is judged in one place."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from api.schemas import VoteCast
from api.voting.lane import vote_choice
from domain.settings import Settings
from tests.scripts.drill_harness import app_client, seeded

VOTE = "/v1/tools/smollm3/vote"
ESCAPED = b'{"choice": "sh\\u0069p"}'
"""Valid JSON for "ship" that the lane leaves to the documented route (it has an escape)."""


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    seeded(settings)
    with app_client(settings) as client:
        yield client


def voter(client: TestClient) -> dict[str, str]:
    token = client.post("/v1/voters").json()["token"]
    return {"Authorization": f"Bearer {token}"}


def put(client: TestClient, headers: dict[str, str], body: bytes, path: str = VOTE) -> Any:
    return client.put(path, content=body, headers={**headers, "Content-Type": "application/json"})


def shape(answer: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers (but the length) and body with the voter- and event-specific values
    blanked: what must not differ between the lane and the route."""
    headers = sorted((k, v) for k, v in answer.headers.items() if k != "content-length")
    body = re.sub(rb'"(voter_id|leaf_hash|promise)":"[^"]*"', rb'"\1":"-"', answer.content)
    body = re.sub(rb'"position":\d+', b'"position":0', body)
    return answer.status_code, headers, body


def test_the_lane_answers_as_the_documented_route_does(client: TestClient) -> None:
    """Cast, change, unchanged, retract, and a refusal: same status, headers and body bytes
    whether the lane or the route answered (the route is made to answer by an escaped body)."""
    lane, route = voter(client), voter(client)
    steps: list[tuple[str, bytes, bytes]] = [
        ("PUT", b'{"choice":"ship"}', ESCAPED),
        ("PUT", b'{"choice":"skip"}', b'{"choice": "sk\\u0069p"}'),
        ("PUT", b'{"choice":"skip"}', b'{"choice": "sk\\u0069p"}'),
        ("DELETE", b"", b""),
        ("DELETE", b"", b""),
    ]
    for method, fast_body, slow_body in steps:
        if method == "PUT":
            fast, slow = put(client, lane, fast_body), put(client, route, slow_body)
        else:
            fast = client.delete(VOTE, headers=lane)
            slow = client.request("DELETE", VOTE, content=b"{}", headers=route)  # has a body
        assert shape(fast) == shape(slow), (method, fast.text, slow.text)


@pytest.mark.parametrize(
    ("path", "status", "problem"),
    [
        ("/v1/tools/ghost/vote", 404, "unknown-tool"),
        ("/v1/tools/Not_A_Slug/vote", 422, "invalid-input"),
    ],
)
def test_refusals_are_the_routes_problems(
    client: TestClient, path: str, status: int, problem: str
) -> None:
    """A vote the ledger refuses gets the same problem+json from the lane as from the route."""
    who = voter(client)
    fast, slow = put(client, who, b'{"choice":"ship"}', path), put(client, who, ESCAPED, path)
    assert shape(fast) == shape(slow)
    assert fast.status_code == status
    assert fast.headers["content-type"] == "application/problem+json"
    assert fast.json()["type"].endswith("/" + problem)


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b'{"choice":', {}, 400),
        (b'{"choice":"nope"}', {}, 422),
        (b'{"choice":"ship","extra":1}', {}, 422),
        (b'{"choice":"ship"}', {"Content-Type": "text/plain"}, 422),
        (b'{"choice":"ship"}', {"Authorization": "Bearer v_forged.bad-mac"}, 401),
        (b'{"choice":"ship"}', {"Authorization": "Basic dm90ZXI6c2VjcmV0"}, 401),
    ],
)
def test_odd_requests_fall_through_to_the_route(
    client: TestClient, body: bytes, headers: dict[str, str], status: int
) -> None:
    """Malformed JSON, a wrong choice, an extra field, another media type, a bad credential:
    the documented route judges them, exactly as before the lane existed."""
    who = {**voter(client), "Content-Type": "application/json", **headers}
    answer = client.put(VOTE, content=body, headers=who)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_lane_vote_is_logged_counted_and_secured(client: TestClient) -> None:
    """The observers outside the lane see its answers: metrics by route template, security
    headers; the vote is durable and read back at its position."""
    answer = put(client, voter(client), b'{"choice":"ship"}')
    assert answer.status_code == 201
    assert answer.headers["x-content-type-options"] == "nosniff"
    metrics = client.get("/metrics").text
    assert 'verdict_votes_total{result="new"}' in metrics
    assert 'route="/v1/tools/{slug}/vote"' in metrics
    position = answer.json()["receipt"]["position"]
    tool = client.get("/v1/tools/smollm3", params={"min_position": position}).json()
    assert tool["community"]["ship"] >= 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
bodies = st.one_of(
    st.binary(max_size=40),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["choice", "Choice", "extra"]), json_values).map(
        lambda d: json.dumps(d).encode()
    ),
    st.sampled_from(["ship", "skip", "nope", "SHIP"]).map(
        lambda c: json.dumps({"choice": c}, indent=None, separators=(",", ":")).encode()
    ),
    st.builds(
        lambda c, pad: f'{pad}{{{pad}"choice"{pad}:{pad}"{c}"{pad}}}{pad}'.encode(),
        st.sampled_from(["ship", "skip"]),
        st.sampled_from(["", " ", "\n", "\t "]),
    ),
)


@given(bodies)
def test_the_lane_takes_only_bodies_the_route_accepts_alike(body: bytes) -> None:
    """Whatever the body, the lane's reading is either "not mine" or the route's own reading."""
    choice = vote_choice(body)
    if choice is None:
        return
    try:
        parsed = VoteCast.model_validate(json.loads(body))  # what FastAPI does with a JSON body
    except (ValueError, ValidationError) as error:
        raise AssertionError(f"the lane took {body!r}, which the route refuses") from error
    assert parsed.choice == choice


def test_the_lane_takes_the_bodies_clients_send() -> None:
    """Compact and spaced JSON of either choice goes the fast way."""
    for body in (b'{"choice":"ship"}', b'{"choice": "skip"}', b'{ "choice" : "ship" }\n'):
        assert vote_choice(body) is not None, body
