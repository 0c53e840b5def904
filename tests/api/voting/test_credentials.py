"""Credentials as a hostile client sends them: any malformed token or key is "nobody" (401 on the
API, no voter on the pages), never an error; a well-formed one still verifies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.app import create_app
from api.bootstrap import Runtime, open_runtime
from api.site.pages import VOTER_COOKIE
from api.voting.credentials import KeyNameTaken
from domain.settings import Settings
from tests.api.site.markup import assert_valid_html, text_of
from tests.api.site.test_pages import by_id
from tests.scripts.drill_harness import seeded

VOTE = "/v1/tools/smollm3/vote"
NON_ASCII = ["v_x.\u00e9", "v_\u00e9.abc", "v_x.\u00e9\u00e9\u00e9", "vle_\u00e9", "v_x.\u2603"]
"""Voter-shaped and editor-shaped tokens with characters outside ASCII (sent as UTF-8 bytes,
which servers decode as latin-1: either way a str that is not ASCII)."""


@pytest.fixture
def sqlite(tmp_path: Path) -> Settings:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    seeded(settings)
    return settings


@pytest.fixture
def runtime(sqlite: Settings) -> Iterator[Runtime]:
    runtime = open_runtime(sqlite)
    yield runtime
    runtime.close()


@given(st.text(max_size=80))
def test_any_text_is_a_voter_or_nobody_never_an_error(runtime: Runtime, token: str) -> None:
    """`voter` answers None for every string that is not a token it issued."""
    assert runtime.credentials.voter(token) is None
    assert runtime.credentials.voter("v_x." + token) is None


def test_an_issued_token_still_verifies(runtime: Runtime) -> None:
    """The guard refuses only what is malformed: the ledger's own token is its voter."""
    voter_id, token = runtime.credentials.register_voter()
    found = runtime.credentials.voter(token)
    assert found is not None and found.name == voter_id


@pytest.mark.parametrize("token", NON_ASCII)
def test_non_ascii_bearer_tokens_are_401_problems(sqlite: Settings, token: str) -> None:
    """On the vote lane, the vote route and an editor route alike."""
    with TestClient(create_app(sqlite), raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {token}".encode()}
        for answer in (
            client.put(VOTE, json={"choice": "ship"}, headers=auth),
            client.put(VOTE, content=b'{"choice": "sh\\u0069p"}', headers=auth),
            client.delete(VOTE, headers=auth),
            client.post("/v1/comparisons", json={"left": "a", "right": "b"}, headers=auth),
        ):
            assert answer.status_code == 401, (answer.request.method, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("token", NON_ASCII)
def test_a_non_ascii_voter_cookie_is_no_voter(sqlite: Settings, token: str) -> None:
    """Pages that read the voter cookie render as for a visitor who has not voted."""
    with TestClient(
        create_app(sqlite), base_url="https://testserver", raise_server_exceptions=False
    ) as client:
        cookie = {"Cookie": f"{VOTER_COOKIE}={token}".encode()}
        end = client.app.state.runtime.ledger.recorder.max_notification_id()
        for path in ("/tools/smollm3", "/compare/claude-files-api-vs-smollm3"):
            answer = client.get(path, headers=cookie, params={"min_position": end})
            assert answer.status_code == 200, (path, answer.text[:200])
            mine = by_id(assert_valid_html(answer.text), "your-vote-smollm3")
            assert text_of(mine) == "You have not voted on SmolLM3."


def test_a_revoked_key_keeps_its_name_and_time(settings: Settings) -> None:
    """Names are never reused: a name once given stays with its first key, revoked or not, so
    `editor:NAME` in the events means one key, and the revocation time is kept."""
    runtime = open_runtime(settings)
    try:
        store = runtime.credentials
        old = store.create_key("ann")
        assert store.revoke_key("ann")
        [before] = store.list_keys()
        assert before.name == "ann" and before.revoked_at is not None
        for _ in range(2):
            with pytest.raises(KeyNameTaken, match="revoked"):
                store.create_key("ann")
        assert store.list_keys() == [before], "the refusal changed nothing"
        assert store.editor(old) is None, "the revoked key stays revoked"
        store.create_key("bob")
        with pytest.raises(KeyNameTaken, match="active"):
            store.create_key("bob")
        assert [(k.name, k.role, k.revoked_at is None) for k in store.list_keys()] == [
            ("ann", "editor", False),
            ("bob", "editor", True),
        ]
    finally:
        runtime.close()
