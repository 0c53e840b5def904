"""The write API: roles, statuses, receipts and problem+json errors, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import open_runtime
from domain import rules
from domain.seeding import seed_demo
from domain.settings import Settings

VERDICT = {"reviewer": "Builder", "decision": "skip", "text": "Changed my mind."}
NEW_TOOL = {
    "slug": "new-tool",
    "name": "New Tool",
    "category": "Developer Tools",
    "tagline": "Freshly listed",
    "description": "Listed by the tests.",
    "pricing": "Free",
}


@dataclass
class Api:
    client: TestClient
    editor: dict[str, str]
    revoked: dict[str, str]

    def voter(self) -> dict[str, str]:
        token = self.client.post("/v1/voters").json()["token"]
        return {"Authorization": f"Bearer {token}"}

    def read(self, path: str, position: int | None) -> Any:
        return self.client.get(path, params={"min_position": position or 0}).json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


SEATS = ["builder", "skeptic", "buyer", "futurist", "newcomer"]
"""The demo panel's seats and one more, which the verdict tests fill."""


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    settings = settings.model_copy(update={"panel_seats": SEATS})
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    editor = runtime.credentials.create_key("ann")
    revoked = runtime.credentials.create_key("old")
    assert runtime.credentials.revoke_key("old")
    runtime.close()
    with TestClient(create_app(settings)) as client:
        yield Api(client, bearer(editor), bearer(revoked))


def assert_problem(response: Any, status: int, type_suffix: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + type_suffix)
    assert body["status"] == status and body["detail"]
    return body


WRITES = [
    ("PUT", "/v1/tools/smollm3/vote", {"choice": "ship"}, "voter"),
    ("DELETE", "/v1/tools/smollm3/vote", None, "voter"),
    ("POST", "/v1/tools", NEW_TOOL, "editor"),
    ("PATCH", "/v1/tools/smollm3", {"tagline": "Now smaller", "reason": "tests"}, "editor"),
    ("DELETE", "/v1/tools/smollm3?reason=tests", None, "editor"),
    ("PUT", "/v1/tools/smollm3/verdicts/builder", {**VERDICT, "reason": "tests"}, "editor"),
    ("DELETE", "/v1/tools/smollm3/verdicts/builder?reason=tests", None, "editor"),
    ("POST", "/v1/comparisons", {"left": "smollm3", "right": "smolvlm2-turbo"}, "editor"),
    ("DELETE", "/v1/comparisons/claude-files-api/smollm3?reason=tests", None, "editor"),
]


@pytest.mark.parametrize(("method", "path", "body", "role"), WRITES)
def test_authorization_matrix(api: Api, method: str, path: str, body: Any, role: str) -> None:
    """Every write route x (no key, forged, revoked, wrong role, right role): 401/403/2xx."""
    log_before = api.client.app.state.runtime.ledger.recorder.max_notification_id()

    def call(headers: dict[str, str]) -> Any:
        return api.client.request(method, path, json=body, headers=headers)

    assert_problem(call({}), 401, "unauthenticated")
    assert_problem(call(api.revoked), 401, "unauthenticated")
    assert_problem(call(bearer("v_forged.bad-mac")), 401, "unauthenticated")
    wrong = api.editor if role == "voter" else api.voter()
    assert_problem(call(wrong), 403, "forbidden")
    ledger = api.client.app.state.runtime.ledger
    assert ledger.recorder.max_notification_id() == log_before, "a refused request wrote"
    right = api.voter() if role == "voter" else api.editor
    if method == "DELETE" and role == "voter":
        api.client.put("/v1/tools/smollm3/vote", json={"choice": "ship"}, headers=right)
    assert call(right).status_code in (200, 201)


def test_vote_statuses_and_read_your_write(api: Api) -> None:
    """201 first vote, 200 change and unchanged, retract, 201 again; receipts read back."""
    voter = api.voter()
    first = api.client.put("/v1/tools/smollm3/vote", json={"choice": "ship"}, headers=voter)
    assert first.status_code == 201 and first.json()["outcome"] == "cast"
    changed = api.client.put("/v1/tools/smollm3/vote", json={"choice": "skip"}, headers=voter)
    assert changed.status_code == 200 and changed.json()["outcome"] == "changed"
    same = api.client.put("/v1/tools/smollm3/vote", json={"choice": "skip"}, headers=voter)
    assert same.status_code == 200 and same.json()["receipt"]["position"] is None
    position = changed.json()["receipt"]["position"]
    assert api.read("/v1/tools/smollm3", position)["community"]["skip"] == 1
    retracted = api.client.delete("/v1/tools/smollm3/vote", headers=voter)
    assert retracted.status_code == 200 and retracted.json()["choice"] is None
    community = api.read("/v1/tools/smollm3", retracted.json()["receipt"]["position"])["community"]
    assert community == {"ship": 0, "skip": 0, "total": 0, "ship_pct": None, "voided": 0}
    again = api.client.put("/v1/tools/smollm3/vote", json={"choice": "ship"}, headers=voter)
    assert again.status_code == 201 and again.json()["outcome"] == "recast"
    assert_problem(
        api.client.delete("/v1/tools/smolvlm2-turbo/vote", headers=voter), 404, "unknown-ballot"
    )


def test_verdict_publish_amend_retract_and_history(api: Api) -> None:
    """PUT publishes (201) then amends with a reason (200); history lists every version."""
    seat = "/v1/tools/smollm3/verdicts/newcomer"
    published = api.client.put(seat, json=VERDICT, headers=api.editor)
    assert published.status_code == 201
    no_reason = api.client.put(seat, json={**VERDICT, "decision": "ship"}, headers=api.editor)
    assert assert_problem(no_reason, 422, "invalid-input")["field"] == "reason"
    amended = api.client.put(
        seat, json={**VERDICT, "decision": "ship", "reason": "new data"}, headers=api.editor
    )
    assert amended.status_code == 200 and amended.json()["outcome"] == "amended"
    assert_problem(api.client.delete(seat, headers=api.editor), 422, "invalid-input")
    retracted = api.client.request(
        "DELETE", seat, json={"reason": "seat closed"}, headers=api.editor
    )
    assert retracted.status_code == 200
    history = api.read(seat + "/history", retracted.json()["receipt"]["position"])
    assert [v["change"] for v in history["versions"]] == ["published", "amended", "retracted"]
    assert history["versions"][1]["reason"] == "new data"
    assert history["versions"][1]["actor"] == "editor:ann"
    assert_problem(api.client.get("/v1/tools/smollm3/verdicts/nobody/history"), 404, "unknown-seat")
    assert_problem(api.client.delete(seat + "?reason=x", headers=api.editor), 404, "unknown-seat")


def test_listing_conflicts_and_validation(api: Api) -> None:
    """409 for a slug listed twice; 422 naming the bad or unknown field; nothing written."""
    assert api.client.post("/v1/tools", json=NEW_TOOL, headers=api.editor).status_code == 201
    again = api.client.post("/v1/tools", json=NEW_TOOL, headers=api.editor)
    assert_problem(again, 409, "tool-already-listed")
    before = api.client.app.state.runtime.ledger.recorder.max_notification_id()
    bad_slug = api.client.post(
        "/v1/tools", json={**NEW_TOOL, "slug": "Bad Slug"}, headers=api.editor
    )
    assert assert_problem(bad_slug, 422, "invalid-input")["field"] == "slug"
    extra = api.client.post(
        "/v1/tools", json={**NEW_TOOL, "slug": "x", "admin": True}, headers=api.editor
    )
    assert assert_problem(extra, 422, "invalid-input")["field"] == "admin"
    long = api.client.post(
        "/v1/tools", json={**NEW_TOOL, "slug": "y", "tagline": "t" * 141}, headers=api.editor
    )
    assert assert_problem(long, 422, "invalid-input")["field"] == "tagline"
    malformed = api.client.post(
        "/v1/tools",
        content=b"{not json",
        headers={**api.editor, "content-type": "application/json"},
    )
    assert assert_problem(malformed, 400, "malformed-json")["field"] == "body"
    choice = api.client.put("/v1/tools/smollm3/vote", json={"choice": "maybe"}, headers=api.voter())
    assert assert_problem(choice, 422, "invalid-input")["field"] == "choice"
    assert api.client.app.state.runtime.ledger.recorder.max_notification_id() == before


def test_unknown_tools_and_delisted_tools(api: Api) -> None:
    """404 for votes on unknown tools; 409 for votes on delisted ones."""
    voter = api.voter()
    ghost = api.client.put("/v1/tools/ghost/vote", json={"choice": "ship"}, headers=voter)
    assert_problem(ghost, 404, "unknown-tool")
    api.client.request(
        "DELETE", "/v1/tools/smolvlm2-turbo", json={"reason": "gone"}, headers=api.editor
    )
    gone = api.client.put("/v1/tools/smolvlm2-turbo/vote", json={"choice": "ship"}, headers=voter)
    assert_problem(gone, 409, "tool-delisted")


def test_body_too_large_is_413(api: Api) -> None:
    """A body over the cap is refused with 413 before it is parsed."""
    huge = {**NEW_TOOL, "description": "x" * 100_000}
    assert_problem(
        api.client.post("/v1/tools", json=huge, headers=api.editor), 413, "body-too-large"
    )


def test_compare_reads_both_tools_at_one_position(api: Api) -> None:
    """GET /v1/compare/a/b returns both tools and one as_of position; unknown side is 404."""
    last = api.client.app.state.runtime.ledger.recorder.max_notification_id()
    body = api.client.get("/v1/compare/claude-files-api/smollm3", params={"min_position": last})
    pair = body.json()
    assert (pair["left"]["panel"]["ship_pct"], pair["right"]["panel"]["ship_pct"]) == (100, 75)
    assert pair["as_of"]["position"] == last
    assert_problem(api.client.get("/v1/compare/claude-files-api/ghost"), 404, "unknown-tool")


def test_rate_limits_answer_429_with_retry_after(settings: Settings) -> None:
    """Past the per-address registration limit and the per-voter vote limit: 429 + Retry-After."""
    limited = settings.model_copy(
        update={"voter_registrations_per_minute": 2, "votes_per_minute": 5}
    )
    runtime = open_runtime(limited)
    seed_demo(runtime.ledger)
    runtime.close()
    with TestClient(create_app(limited)) as client:
        tokens = [client.post("/v1/voters") for _ in range(2)]
        assert all(r.status_code == 201 for r in tokens)
        refused = assert_problem(client.post("/v1/voters"), 429, "rate-limited")
        del refused
        headers = bearer(tokens[0].json()["token"])
        statuses = [
            client.put("/v1/tools/smollm3/vote", json={"choice": c}, headers=headers).status_code
            for c in ("ship", "skip", "ship")
        ]
        assert statuses[0] == 201
        last = client.put("/v1/tools/smollm3/vote", json={"choice": "skip"}, headers=headers)
        assert_problem(last, 429, "rate-limited")
        assert int(last.headers["retry-after"]) >= 1
        other = client.put(
            "/v1/tools/smollm3/vote",
            json={"choice": "ship"},
            headers=bearer(tokens[1].json()["token"]),
        )
        assert other.status_code == 201, "one voter's limit must not throttle another"


def test_text_xml_cannot_carry_is_a_422_naming_the_field(api: Api) -> None:
    """U+FFFF (and the rest of what domain.rules.NOT_TEXT names) in any text field of any write:
    a 422 whose `field` is that field, and nothing written."""
    bad = "bad\uffffvalue"
    ledger = api.client.app.state.runtime.ledger
    before = ledger.recorder.max_notification_id()
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        *(("POST", "/v1/tools", {**NEW_TOOL, f: bad}, f) for f in rules.LISTING_FIELDS),
        *(
            ("PATCH", "/v1/tools/smollm3", {f: bad, "reason": "tests"}, f)
            for f in rules.LISTING_FIELDS
        ),
        ("PATCH", "/v1/tools/smollm3", {"pricing": "Paid", "reason": bad}, "reason"),
        ("PUT", "/v1/tools/smollm3/verdicts/newcomer", {**VERDICT, "reviewer": bad}, "reviewer"),
        ("PUT", "/v1/tools/smollm3/verdicts/newcomer", {**VERDICT, "text": bad}, "text"),
        ("PUT", "/v1/tools/smollm3/verdicts/builder", {**VERDICT, "reason": bad}, "reason"),
        ("DELETE", "/v1/tools/smollm3/verdicts/builder", {"reason": bad}, "reason"),
        ("DELETE", "/v1/tools/smollm3", {"reason": bad}, "reason"),
        ("DELETE", "/v1/comparisons/claude-files-api/smollm3", {"reason": bad}, "reason"),
    ]
    for method, path, body, field in cases:
        answer = api.client.request(method, path, json=body, headers=api.editor)
        assert assert_problem(answer, 422, "invalid-input")["field"] == field, (method, path)
    assert ledger.recorder.max_notification_id() == before


def test_an_unknown_seat_is_a_422_listing_the_panels_seats(api: Api) -> None:
    """`PUT .../verdicts/critic` (a typo) writes nothing and names the seats there are."""
    ledger = api.client.app.state.runtime.ledger
    before = ledger.recorder.max_notification_id()
    answer = api.client.put("/v1/tools/smollm3/verdicts/critic", json=VERDICT, headers=api.editor)
    body = assert_problem(answer, 422, "invalid-input")
    assert body["field"] == "seat" and ", ".join(SEATS) in body["detail"]
    assert ledger.recorder.max_notification_id() == before


def test_verdicts_in_seats_outside_the_setting_still_fold(tmp_path: Path) -> None:
    """A ledger once configured with a `critic` seat keeps that verdict when the setting drops
    it: the tool still shows it, counts it and lets an editor retract it."""
    seats = [*rules.DEFAULT_SEATS, "critic"]
    old = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db", panel_seats=seats)
    runtime = open_runtime(old)
    seed_demo(runtime.ledger)
    key = runtime.credentials.create_key("ann")
    runtime.ledger.publish_verdict("smollm3", "critic", "Critic", "skip", "No.", "editor:ann")
    runtime.close()
    now = old.model_copy(update={"panel_seats": list(rules.DEFAULT_SEATS)})
    with TestClient(create_app(now)) as client:
        end = client.app.state.runtime.ledger.recorder.max_notification_id()
        doc = client.get("/v1/tools/smollm3", params={"min_position": end}).json()
        assert "critic" in {v["seat"] for v in doc["panel"]["verdicts"]}
        assert doc["panel"]["total"] == 5
        gone = client.delete(
            "/v1/tools/smollm3/verdicts/critic?reason=dropped", headers=bearer(key)
        )
        assert gone.status_code == 200, gone.text


def test_an_amendment_sends_only_what_changes(api: Api) -> None:
    """PUT on a filled seat with just a decision and a reason amends only the decision; without
    a reason it is a 422 saying a reason is required when amending."""
    seat = "/v1/tools/smollm3/verdicts/buyer"
    end = api.client.app.state.runtime.ledger.recorder.max_notification_id()
    before = api.read(seat + "/history", end)["versions"][-1]
    flipped = {"ship": "skip", "skip": "ship"}[before["decision"]]
    unreasoned = api.client.put(seat, json={"decision": flipped}, headers=api.editor)
    body = assert_problem(unreasoned, 422, "invalid-input")
    assert body["field"] == "reason" and "a reason is required when amending" in body["detail"]
    amended = api.client.put(seat, json={"decision": flipped, "reason": "x"}, headers=api.editor)
    assert amended.status_code == 200, amended.text
    after = api.read(seat + "/history", amended.json()["receipt"]["position"])["versions"][-1]
    assert after["decision"] == flipped and after["change"] == "amended"
    assert (after["reviewer"], after["text"]) == (before["reviewer"], before["text"])
    new = api.client.put(
        "/v1/tools/smollm3/verdicts/newcomer", json={"decision": "ship"}, headers=api.editor
    )
    assert assert_problem(new, 422, "invalid-input")["field"] in ("reviewer", "text")
