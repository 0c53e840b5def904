"""The editor console in a real browser (Debian's Chromium through Playwright, against a real
`verdict serve`, as test_browser.py runs the site): the editorial workflow end to end, the
refusals, and axe-core's WCAG 2.1 A/AA rules on every console page with 0 violations.

axe-core comes from npm (package.json, installed by scripts/_browser.sh with `npm ci`); it is
injected into each page, so the context bypasses the pages' CSP for that one script."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.api.site.test_browser import CHROMIUM, FLAGS, SCREENSHOTS, env, serving

ROOT = Path(__file__).resolve().parents[3]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SLUG = "smollm3"
NEW_SENTENCE = "Re-tested on the 1.2 release: the tool calls now hold."


def verdict(folder: Path, *args: str) -> str:
    """The `verdict` command on the server's store; its last line."""
    done = subprocess.run(
        [sys.executable, "-m", "api.server.cli", *args],
        env=env(folder),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("console")
    with serving(folder) as base:
        yield base, folder


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}))",
        WCAG_21_AA,
    )
    return found


def checked(page: Page, name: str, counts: dict[str, int]) -> None:
    """Screenshot the page, then assert axe finds nothing (counting what it found)."""
    page.screenshot(path=SCREENSHOTS / f"editor-{name}.png", full_page=True)
    violations = axe_violations(page)
    counts[name] = len(violations)
    assert violations == [], (name, violations)


@contextmanager
def console_browser() -> Iterator[Page]:
    """A page of a fresh Chromium context (the CSP bypassed for axe-core's script), closed
    with its browser afterwards."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            yield context.new_page()
            context.close()
        finally:
            browser.close()


def log_end(base: str) -> int:
    checkpoint = httpx.get(f"{base}/v1/tools/{SLUG}", timeout=5).json()
    return int(checkpoint["as_of"]["position"])


@pytest.mark.slow
def test_an_editor_amends_a_verdict_in_the_browser(store: tuple[str, Path]) -> None:
    """A voter token and a wrong key are refused; the editor signs in, previews an amendment
    (the diff and the new panel %), is refused without a reason, amends with one; the public
    page shows the new verdict, its history and the new %. A forged CSRF value writes nothing;
    revoking the key ends the session. axe-core: 0 WCAG 2.1 AA violations on every page."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/test, which installs it"
    assert AXE.exists(), f"{AXE} is missing: run scripts/test (npm ci installs axe-core)"
    base, folder = store
    key = verdict(folder, "keys", "create", "--name", "ann")
    assert key.startswith("vle_")
    voter = httpx.post(f"{base}/v1/voters", timeout=5).json()["token"]
    counts: dict[str, int] = {}
    with console_browser() as page:
        page.goto(f"{base}/editor")
        checked(page, "1-sign-in", counts)

        for wrong in (voter, "vle_" + "A" * 43):
            page.fill("#sign-in-key", wrong)
            page.click("#sign-in button[type=submit]")
            expect(page.locator("#sign-in-key")).to_have_attribute("aria-invalid", "true")
            expect(page.locator("#sign-in-key-error")).to_contain_text("not an active")
        checked(page, "2-sign-in-refused", counts)

        page.fill("#sign-in-key", key)
        page.click("#sign-in button[type=submit]")
        expect(page.locator(".console-nav")).to_contain_text("Signed in as ann")
        expect(page.locator(f"#row-{SLUG}")).to_be_visible()
        checked(page, "3-tools", counts)

        page.click(f"#row-{SLUG} a >> nth=0")
        expect(page.locator("h1")).to_contain_text("SmolLM3")
        before = page.inner_text("[data-figure=panel]")
        checked(page, "4-tool", counts)

        seat = "#seat-builder"
        decision = page.locator(f"{seat} input[name=decision]:checked").get_attribute("value")
        flipped = "skip" if decision == "ship" else "ship"
        text = page.input_value(f"{seat}-text")

        def preview() -> None:
            page.check(f"{seat} input[name=decision][value={flipped}]")
            page.fill(f"{seat}-text", f"{text} {NEW_SENTENCE}")
            page.click(f"{seat} button[type=submit]")
            expect(page.locator("h1")).to_contain_text("Preview")

        preview()
        expect(page.locator("#diff ins")).to_have_text(f"added: {NEW_SENTENCE}")
        after = page.inner_text("[data-figure=panel-after]")
        assert after != before, "flipping one verdict moves the panel %"
        checked(page, "5-preview", counts)

        written = log_end(base)
        page.click(f"{seat} button[type=submit]")  # the browser's own required check
        expect(page.locator("h1")).to_contain_text("Preview")
        page.evaluate("document.querySelector('#seat-builder').noValidate = true")
        page.click(f"{seat} button[type=submit]")  # no reason: the server refuses
        expect(page.locator(f"{seat}-reason")).to_have_attribute("aria-invalid", "true")
        expect(page.locator(f"{seat}-reason-error")).to_contain_text("reason")
        assert log_end(base) == written
        checked(page, "6-reason-required", counts)

        page.evaluate("document.querySelector('#seat-builder [name=csrf]').value = 'x'")
        page.fill(f"{seat}-reason", "forged")
        page.click(f"{seat} button[type=submit]")
        expect(page.locator("h1")).to_have_text("Form refused")
        assert log_end(base) == written

        page.goto(f"{base}/editor/tools/{SLUG}")
        preview()
        page.fill(f"{seat}-reason", "re-tested on the new release")
        page.click(f"{seat} button[type=submit]")
        expect(page.locator("#done")).to_have_text("Recorded: amended.")
        expect(page.locator("[data-figure=panel]")).to_have_text(after)

        page.goto(f"{base}/tools/{SLUG}")
        expect(page.locator("#seat-builder")).to_contain_text(NEW_SENTENCE)
        expect(page.locator("main")).to_contain_text("re-tested on the new release")
        expect(page.locator("[data-figure=panel]").first).to_have_text(after)
        page.screenshot(path=SCREENSHOTS / "editor-7-public-tool.png", full_page=True)

        page.goto(f"{base}/editor/comparisons")
        checked(page, "8-comparisons", counts)
        page.goto(f"{base}/editor/actions")
        expect(page.locator("#actions a").first).to_have_attribute(
            "href", re.compile(r"^/v1/audit/proofs/inclusion\?position=\d+$")
        )
        checked(page, "9-actions", counts)
        page.goto(f"{base}/editor")
        page.click("#new-tool button[type=submit]")  # the browser's own required check
        page.evaluate("document.querySelector('#new-tool').noValidate = true")
        page.click("#new-tool button[type=submit]")
        expect(page.locator("#new-tool-slug")).to_have_attribute("aria-invalid", "true")
        checked(page, "10-refused-listing", counts)

        assert verdict(folder, "keys", "revoke", "ann") == "revoked key 'ann'"
        page.goto(f"{base}/editor/tools/{SLUG}")
        expect(page.locator("#sign-in-key-error")).to_contain_text("Your session has ended")
        page.set_content("<!doctype html><title>t</title><main><input></main>")
        assert {v["id"] for v in axe_violations(page)} >= {"label"}, "axe can fail"
    print("axe-core WCAG 2.1 A/AA violations per console page:", counts)
    assert set(counts.values()) == {0}


def stuffed(base: str, voters: int) -> None:
    """`voters` voters registered from this one address within one minute, each voting ship:
    what the moderation queue groups. Begins at a minute's start if the current one is nearly
    over, so the registrations share their minute."""
    if time.gmtime().tm_sec > 45:
        time.sleep(61 - time.gmtime().tm_sec)
    with httpx.Client(base_url=base, timeout=5) as client:
        for _ in range(voters):
            token = client.post("/v1/voters").json()["token"]
            cast = client.put(
                f"/v1/tools/{SLUG}/vote",
                json={"choice": "ship"},
                headers={"authorization": f"Bearer {token}"},
            )
            assert cast.status_code == 201, cast.text


@pytest.mark.slow
def test_a_moderator_voids_a_group_from_the_queue_in_the_browser(store: tuple[str, Path]) -> None:
    """A moderator key signs in on the console's form and lands on the queue; the stuffed
    group is listed; a void without a reason is refused on its field and writes nothing; with
    a reason the 20 ballots leave the tally (community.voided). axe-core: 0 violations."""
    base, folder = store
    key = verdict(folder, "keys", "create", "--name", "mo", "--role", "moderator")
    stuffed(base, 20)
    voided = httpx.get(f"{base}/v1/tools/{SLUG}", timeout=5).json()["community"]["voided"]
    counts: dict[str, int] = {}
    with console_browser() as page:
        page.goto(f"{base}/editor")
        page.fill("#sign-in-key", key)
        page.click("#sign-in button[type=submit]")
        expect(page.locator("h1")).to_have_text("Moderation queue")
        group = page.locator("section.group").first
        expect(group.locator("h2")).to_contain_text(f"20 voters, ship on {SLUG}")
        checked(page, "moderation", counts)

        form = group.locator("form")
        form_id = form.get_attribute("id")
        written = log_end(base)
        page.evaluate(f"document.getElementById('{form_id}').noValidate = true")
        form.locator("button[type=submit]").click()
        expect(page.locator(f"#{form_id}-reason")).to_have_attribute("aria-invalid", "true")
        assert log_end(base) == written
        checked(page, "moderation-refused", counts)

        page.fill(f"#{form_id}-reason", "20 voters from one address in one minute")
        page.click(f"#{form_id} button[type=submit]")
        expect(page.locator("#done")).to_contain_text("Recorded: voided")
        expect(page.locator(f"#{form_id}")).to_have_count(0)
        checked(page, "moderation-done", counts)
    after = httpx.get(f"{base}/v1/tools/{SLUG}", timeout=5).json()["community"]
    assert after["voided"] == voided + 20
    print("axe-core WCAG 2.1 A/AA violations per moderation page:", counts)
    assert set(counts.values()) == {0}
