""" "Check this score" in a real browser (Debian's Chromium through Playwright, against a real
`verdict serve`, on SQLite and PostgreSQL): on an honest ledger the check says ✓ with what it
checked, voids included; after a counted ballot's stored bytes are changed behind the service's
back (an UPDATE on the event table) it says ✗ and names that leaf and its log position. The page
with the control passes axe-core's WCAG 2.1 A/AA rules, and without JavaScript it hides the
button and says how to run scripts/verify.py. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Page, Route, expect, sync_playwright

from api.bootstrap import open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit.signed_note import format_verifier_key
from tests.api.routes.test_moderation import bearer, moderator_key
from tests.api.site.test_browser import CHROMIUM, FLAGS, SCREENSHOTS
from tests.api.site.test_editor_browser import AXE, axe_violations
from tests.scripts.serving_audit import EventTable, Served, serving, settle
from tests.serving import witnessing

SLUG = "smollm3"
RESULT = "#check-result"


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[Served]:
    with serving(settings, tmp_path / "serve.log") as service:
        yield service


def stuff_and_void(served: Served) -> int:
    """Four new ballots on the tool (3 ship, 1 skip), the first voided by a moderator; the last
    log position."""
    key = moderator_key(served.settings)
    with served.http() as http:
        voters = [http.post("/v1/voters").json() for _ in range(4)]
        for voter, choice in zip(voters, ("ship", "ship", "ship", "skip"), strict=True):
            cast = http.put(
                f"/v1/tools/{SLUG}/vote", json={"choice": choice}, headers=bearer(voter["token"])
            )
            assert cast.status_code == 201, cast.text
        body = {"tool": SLUG, "voters": [voters[0]["voter_id"]], "reason": "r", "rule": "x"}
        voided = http.post("/v1/moderation/voids", json=body, headers=bearer(key))
        assert voided.status_code == 200, voided.text
        return int(voided.json()["ballots"][0]["receipt"]["position"])


def counted_ballot(http: httpx.Client) -> tuple[int, int]:
    """The leaf index and log position of the last ballot the score proof counts."""
    proof = http.get(f"/v1/tools/{SLUG}/score-proof").json()
    index = proof["community"]["ballots"][-1]["leaf_index"]
    leaf = http.get("/v1/audit/leaves", params={"index": index}).json()["leaves"][0]
    return int(index), int(leaf["position"])


def run_check(page: Page) -> None:
    page.get_by_role("button", name="Check this score").click()
    expect(page.locator(RESULT)).not_to_have_attribute("aria-busy", "true", timeout=30_000)


@pytest.mark.slow
def test_the_browser_checks_a_score_and_names_the_tampered_leaf(
    served: Served, settings: Settings
) -> None:
    """✓ on the honest ledger (signature, leaves, proofs, the recount with the void); 0 axe
    violations; ✗ naming the leaf and position of a ballot changed in the store."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/test, which installs it"
    assert AXE.exists(), f"{AXE} is missing: run scripts/test (npm ci installs axe-core)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    store = "postgres" if settings.is_postgres else "sqlite"
    settle(served, stuff_and_void(served))
    with served.http() as http:
        community = http.get(f"/v1/tools/{SLUG}").json()["community"]
        assert community["voided"] == 1
        index, position = counted_ballot(http)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on(
                "console", lambda m: errors.append(m.text) if "Content Security" in m.text else None
            )
            page.on(
                "response",
                lambda r: (
                    errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.goto(f"{served.url}/tools/{SLUG}")
            run_check(page)
            result = page.locator(RESULT)
            expect(result).to_contain_text("Verified in your browser")
            expect(result).to_contain_text("is signed by the log key")
            expect(result).to_contain_text("recomputed from the events' bytes")
            expect(result).to_contain_text(
                f"community {community['ship_pct']}% ({community['ship']} of "
                f"{community['total']} ballots; 1 voided by moderators, left out)"
            )
            expect(result).to_contain_text("the figures on this page are the recounted ones")
            result.scroll_into_view_if_needed()
            page.screenshot(path=SCREENSHOTS / f"check-{store}-1-verified.png", full_page=True)
            assert errors == [], errors  # no request refused, nothing the CSP blocked
            context.close()

            # axe-core is injected as an inline script, so this context bypasses the CSP
            context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            page = context.new_page()
            page.goto(f"{served.url}/tools/{SLUG}")
            result = page.locator(RESULT)
            run_check(page)
            expect(result).to_contain_text("Verified in your browser")
            assert axe_violations(page) == []

            table = EventTable(settings)
            state = orjson.loads(table.state(position))
            flipped = "skip" if state["choice"] == "ship" else "ship"
            table.set_state(position, orjson.dumps({**state, "choice": flipped}))
            page.reload()
            run_check(page)
            expect(result).to_contain_text(
                f"Check failed: leaf {index} (log position {position}): the stored event was "
                "changed after the log recorded it"
            )
            result.scroll_into_view_if_needed()
            page.screenshot(path=SCREENSHOTS / f"check-{store}-2-tampered.png", full_page=True)
            assert axe_violations(page) == []
            context.close()

            bare = browser.new_context(
                viewport={"width": 375, "height": 900}, java_script_enabled=False
            )
            page = bare.new_page()
            page.goto(f"{served.url}/tools/{SLUG}")
            expect(page.locator("#check")).to_contain_text("python scripts/verify.py")
            expect(page.get_by_role("button", name="Check this score")).to_be_hidden()
            page.locator("#check").screenshot(path=SCREENSHOTS / f"check-{store}-3-no-js.png")
            bare.close()
        finally:
            browser.close()


def flipped_signature(note: str, name: str) -> str:
    """`note` with the last byte of `name`'s signature line flipped, as a lying server sends it."""
    lines = note.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f"\u2014 {name} "):
            raw = bytearray(base64.b64decode(line.rsplit(" ", 1)[1]))
            raw[-1] ^= 1
            lines[i] = f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}"
            return "\n".join(lines)
    raise AssertionError(f"no signature by {name} in {note!r}")


def lying_checkpoint(name: str) -> Callable[[Route], None]:
    """A route handler that serves the real checkpoint with `name`'s signature flipped."""

    def lie(route: Route) -> None:
        real = route.fetch()
        route.fulfill(response=real, body=flipped_signature(real.text(), name))

    return lie


def other_choice(proof: dict[str, Any]) -> None:
    """The last counted ballot claimed as the other choice."""
    ballot = proof["community"]["ballots"][-1]
    ballot["choice"] = "ship" if ballot["choice"] == "skip" else "skip"


def counted_twice(proof: dict[str, Any]) -> None:
    """The last counted ballot named twice, the figures inflated to match."""
    community = proof["community"]
    ballot = community["ballots"][-1]
    community["ballots"].append(ballot)
    community[ballot["choice"]] += 1
    community["total"] += 1
    community["ship_pct"] = (200 * community["ship"] + community["total"]) // (
        2 * community["total"]
    )


def lying_proof(lie: Callable[[dict[str, Any]], None]) -> Callable[[Route], None]:
    """A route handler that serves the real score proof changed by `lie`."""

    def serve(route: Route) -> None:
        real = route.fetch()
        proof = real.json()
        lie(proof)
        route.fulfill(response=real, body=json.dumps(proof))

    return serve


@pytest.mark.slow
def test_the_browser_checks_witness_cosignatures_and_refuses_lies(tmp_path: Path) -> None:
    """With a real `verdict witness` (quorum 1) the check verifies its cosignature/v1, and the
    log key a reader pins (another key fails, a malformed one is theirs to fix); a served
    checkpoint whose cosignature or log signature is altered, or a score proof that counts a
    ballot as the other choice or twice, is refused, each naming what failed (the answers are
    altered in flight, as a dishonest server would send them)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/test, which installs it"
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    log_key = runtime.signer.verifier_key
    runtime.close()
    with witnessing(tmp_path / "witness.db", [log_key], tmp_path / "witness.out") as witness:
        configured = {
            "VERDICT_WITNESSES": json.dumps(
                [{"url": witness.url, "verifier_key": witness.verifier_key}]
            ),
            "VERDICT_WITNESS_QUORUM": "1",
        }
        with serving(settings, tmp_path / "serve.log", **configured) as served:
            with served.http() as http:
                token = http.post("/v1/voters").json()["token"]
                cast = http.put(
                    f"/v1/tools/{SLUG}/vote", json={"choice": "skip"}, headers=bearer(token)
                )
                assert cast.status_code == 201, cast.text
            settle(served, cast.json()["receipt"]["position"])
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                try:
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    page.goto(f"{served.url}/tools/{SLUG}")
                    run_check(page)
                    result = page.locator(RESULT)
                    expect(result).to_contain_text("Verified in your browser")
                    expect(result).to_contain_text(
                        "1 of 1 witnesses cosigned it (quorum 1): witness.example/w1+"
                    )
                    result.scroll_into_view_if_needed()
                    page.screenshot(path=SCREENSHOTS / "check-witnessed.png", full_page=True)

                    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
                    for key, said in (
                        (log_key, "Verified in your browser"),
                        (format_verifier_key(log_key.split("+")[0], other), "no signature by"),
                        ("not a key", "Could not check: the key you gave"),
                    ):
                        page.get_by_label("The log's key").fill(key)
                        run_check(page)
                        expect(result).to_contain_text(said)
                    expect(result).not_to_contain_text("the log key you gave")
                    page.get_by_label("The log's key").fill(log_key)
                    run_check(page)
                    expect(result).to_contain_text(
                        f"signed by the log key you gave, {log_key[:20]}"
                    )
                    page.get_by_label("The log's key").fill("")

                    for name, said in (
                        ("witness.example/w1", "the cosignature by witness.example/w1+"),
                        (log_key.split("+")[0], "the checkpoint's signature by"),
                    ):
                        page.route("**/v1/audit/checkpoint", lying_checkpoint(name))
                        page.reload()
                        run_check(page)
                        expect(result).to_contain_text(f"Check failed: {said}")
                        expect(result).to_contain_text("does not verify")
                        page.unroute("**/v1/audit/checkpoint")

                    for lie, said in (
                        (other_choice, "the score proof counts"),
                        (counted_twice, "the score proof names it twice"),
                    ):
                        page.route("**/score-proof?*", lying_proof(lie))
                        page.reload()
                        run_check(page)
                        expect(result).to_contain_text("Check failed: leaf ")
                        expect(result).to_contain_text(said)
                        page.unroute("**/score-proof?*")
                finally:
                    browser.close()
