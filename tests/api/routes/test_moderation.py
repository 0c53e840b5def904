"""Moderation end to end on both stores, against a real `verdict serve`: 50 voters stuff a tool,
a moderator voids 40 of them with a reason, and the figures, the history step,
`community.voided`, the feed and scripts/verify.py agree; a restore brings them back. Editor
keys and voter tokens are refused (403); a voided voter voting again gets 409; a refused
request writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.settings import Settings
from tests.scripts.serving_audit import Served, serving, settle, verdict_line, verify
from tests.serving import ROOT

SLUG = "smollm3"
REASON = "50 voters registered within a minute from one address"
RULE = "one-person-one-vote"
KEYS_CREATE = ("keys", "create")


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[Served]:
    with serving(settings, tmp_path / "serve.log") as service:
        yield service


def moderator_key(settings: Settings) -> str:
    """`verdict keys create --role moderator` on the served store: the key is its last line."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.server.cli",
            *KEYS_CREATE,
            "--role",
            "moderator",
            "--name",
            "mo",
        ],
        cwd=ROOT,
        env={**os.environ, "VERDICT_DATABASE_URL": settings.database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "created moderator key 'mo'" in done.stdout, done.stdout
    return done.stdout.strip().splitlines()[-1]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def community(http: httpx.Client, position: int) -> dict[str, Any]:
    answer = http.get(f"/v1/tools/{SLUG}", params={"min_position": position})
    assert answer.status_code == 200, answer.text
    figures: dict[str, Any] = answer.json()["community"]
    return figures


def moderate(http: httpx.Client, what: str, voters: list[str], key: str) -> httpx.Response:
    body = {"tool": SLUG, "voters": voters, "reason": REASON, "rule": RULE}
    return http.post(f"/v1/moderation/{what}", json=body, headers=bearer(key))


def audited(served: Served, position: int) -> str:
    """scripts/verify.py, as an auditor runs it, once a checkpoint covers `position`."""
    settle(served, position)
    code, out = verify(served.url, "--no-state")
    assert code == 0, out
    return out


def test_moderation_end_to_end(served: Served) -> None:
    """Stuff, void 40 of 50, refuse the wrong roles and a voided voter, restore: every figure
    the ledger publishes, and the verifier's recount, agree at each step."""
    key = moderator_key(served.settings)
    assert served.editor_key is not None
    with served.http() as http:
        before = community(http, 0)
        voters = [http.post("/v1/voters").json() for _ in range(50)]
        for voter in voters:
            cast = http.put(
                f"/v1/tools/{SLUG}/vote", json={"choice": "ship"}, headers=bearer(voter["token"])
            )
            assert cast.status_code == 201, cast.text
        stuffed_at = cast.json()["receipt"]["position"]
        stuffed = community(http, stuffed_at)
        assert (stuffed["ship"], stuffed["voided"]) == (before["ship"] + 50, 0)
        stuffers = [v["voter_id"] for v in voters[:40]]

        for secret in (served.editor_key, voters[0]["token"]):
            refused = moderate(http, "voids", stuffers, secret)
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
        as_editor = http.request(
            "DELETE",
            f"/v1/tools/{SLUG}",
            json={"reason": "moderators are not editors"},
            headers=bearer(key),
        )
        assert as_editor.status_code == 403, as_editor.text
        unknown = moderate(http, "voids", [*stuffers[:3], "v_nobody"], key)
        assert (unknown.status_code, unknown.json()["field"]) == (404, "voters[3]")
        too_many = moderate(http, "voids", [f"v_{i}" for i in range(1001)], key)
        assert (too_many.status_code, too_many.json()["field"]) == (422, "voters")
        twice = moderate(http, "voids", [stuffers[0], stuffers[0]], key)
        assert (twice.status_code, twice.json()["field"]) == (422, "voters[1]")
        assert community(http, stuffed_at) == stuffed, "a refused request wrote something"

        voided = moderate(http, "voids", stuffers, key)
        assert voided.status_code == 200, voided.text
        ballots = voided.json()["ballots"]
        assert [b["voter_id"] for b in ballots] == stuffers
        positions = [b["receipt"]["position"] for b in ballots]
        assert all(b["receipt"]["leaf_hash"] for b in ballots), "every void has its receipt"
        assert positions == sorted(positions) and len(set(positions)) == 40
        again = moderate(http, "voids", [stuffers[5], voters[45]["voter_id"]], key)
        assert (again.status_code, again.json()["field"]) == (409, "voters[0]")
        assert again.json()["type"] == "/problems/ballot-voided"
        revote = http.put(
            f"/v1/tools/{SLUG}/vote", json={"choice": "skip"}, headers=bearer(voters[0]["token"])
        )
        assert revote.status_code == 409, revote.text
        assert revote.json()["type"] == "/problems/ballot-voided"

        corrected = community(http, positions[-1])
        assert corrected["ship"] == before["ship"] + 10
        assert corrected["voided"] == 40
        assert corrected["total"] == before["total"] + 10
        points = http.get(f"/v1/tools/{SLUG}/history", params={"after": 0}).json()["points"]
        steps = [p for p in points if p["kind"] == "Ballot.Voided"]
        assert [p["position"] for p in steps] == positions
        assert {p["correction"] for p in steps} == {f"voting corrected: {REASON}"}
        assert {(p["actor"], p["rule"]) for p in steps} == {("moderator:mo", RULE)}
        assert steps[-1]["community"] == corrected
        page = http.get(f"/tools/{SLUG}").text
        assert f"voting corrected: {REASON}" in page
        assert f'href="/v1/tools/{SLUG}?as_of={steps[-1]["size"]}"' in page
        assert "40 voided by moderators" in page
        feed = http.get("/feed.xml").text
        assert f"voting corrected: {REASON}" in feed
        assert "40 ballots voided under the rule" in feed
        out = audited(served, positions[-1])
        assert verdict_line(out).startswith("VERDICT: OK")
        assert "40 voided ballot(s) left out of the tallies" in out

        restored = moderate(http, "restores", stuffers, key)
        assert restored.status_code == 200, restored.text
        last = restored.json()["ballots"][-1]["receipt"]["position"]
        assert community(http, last) == stuffed
        again = moderate(http, "restores", stuffers[:1], key)
        assert (again.status_code, again.json()["type"]) == (409, "/problems/ballot-not-voided")
        assert "40 ballots restored under the rule" in http.get("/feed.xml").text
        back = http.put(
            f"/v1/tools/{SLUG}/vote", json={"choice": "skip"}, headers=bearer(voters[0]["token"])
        )
        assert back.status_code == 200, back.text
        out = audited(served, back.json()["receipt"]["position"])
        assert verdict_line(out).startswith("VERDICT: OK")
