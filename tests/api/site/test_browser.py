"""The comparison site in a real browser: Debian's Chromium driven by Playwright against a real
`verdict serve` on 127.0.0.1. Desktop width with the vote script, phone width without any
JavaScript. Screenshots go to test-output/screenshots/. A missing Chromium FAILS the test:
scripts/test installs it (scripts/_browser.sh)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from domain.demo_data import COMPARISONS
from tests.api.routes.test_reads import PUBLISHED
from tests.serving import START_SECONDS, free_port

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-output" / "screenshots"


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """`verdict serve` on a fresh SQLite file in `folder` (it seeds the demo data on first
    start), until the demo data is in view; its base URL. `env(folder)` reaches the same store."""
    port = free_port()
    with (folder / "serve.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.server.cli", "serve", "--port", str(port)],
            env=env(folder),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert proc.poll() is None, (folder / "serve.log").read_text()
            try:
                listed = httpx.get(f"{base}/v1/comparisons", timeout=2).json()
                if len(listed["comparisons"]) == len(COMPARISONS):  # the demo data is in view
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"verdict serve did not answer in {START_SECONDS} s"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def env(folder: Path) -> dict[str, str]:
    return {**os.environ, "VERDICT_DATABASE_URL": f"sqlite:///{folder}/ledger.db"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("serve")) as base:
        yield base


def community(page: Page, slug: str) -> str:
    return f"#community-{slug} [data-figure=community]"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("width", "javascript", "left", "right"),
    [
        (1280, True, "claude-files-api", "smollm3"),
        (375, False, "claude-files-api", "smolvlm2-turbo"),
    ],
    ids=["desktop-with-js", "phone-without-js"],
)
def test_vote_change_and_retract_in_a_browser(
    server: str, width: int, javascript: bool, left: str, right: str
) -> None:
    """Every compare page shows the six published panel percentages; then on one page a visitor
    votes ship, sees the community figure change, changes to skip, and retracts."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/test, which installs it"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = f"compare-{width}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": 900}, java_script_enabled=javascript
            )
            page = context.new_page()
            page.goto(f"{server}/")
            page.screenshot(path=SCREENSHOTS / f"index-{width}.png", full_page=True)

            seen: dict[str, str] = {}
            for a, b in COMPARISONS:
                page.goto(f"{server}/compare/{a}-vs-{b}")
                for slug in (a, b):
                    seen[slug] = page.inner_text(f"#tool-{slug} [data-figure=panel]")
            assert seen == {slug: f"{pct}%" for slug, pct in PUBLISHED.items()}

            page.goto(f"{server}/compare/{left}-vs-{right}")
            expect(page.locator(community(page, right))).to_have_text("—")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, "overflows"
            page.screenshot(path=SCREENSHOTS / f"{name}-1-before.png", full_page=True)

            page.click(f"#vote-{right} button[value=ship]")
            expect(page.locator(community(page, right))).to_have_text("100%")
            expect(page.locator(f"#community-{right}")).to_contain_text("1 vote")
            expect(page.locator(f"#your-vote-{right}")).to_contain_text("Your vote: ✓ Ship")
            if javascript:  # the script swapped the figures in and told assistive technology
                expect(page.locator("#vote-announcer")).to_contain_text("you vote ship")
            page.screenshot(path=SCREENSHOTS / f"{name}-2-ship.png", full_page=True)

            page.click(f"#vote-{right} button[value=skip]")
            expect(page.locator(community(page, right))).to_have_text("0%")
            expect(page.locator(f"#your-vote-{right}")).to_contain_text("Your vote: ✗ Skip")
            page.screenshot(path=SCREENSHOTS / f"{name}-3-skip.png", full_page=True)

            page.click(f"#vote-{right} button[value=retract]")
            expect(page.locator(community(page, right))).to_have_text("—")
            expect(page.locator(f"#vote-{right}")).to_contain_text("You have not voted")
            expect(page.locator(community(page, left))).to_have_text("—")
            page.screenshot(path=SCREENSHOTS / f"{name}-4-retracted.png", full_page=True)

            page.goto(f"{server}/tools/{right}")
            expect(page.locator(f"svg#chart-{right}")).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= width, "overflows"
            page.screenshot(path=SCREENSHOTS / f"tool-{width}.png", full_page=True)
            context.close()
        finally:
            browser.close()


PHONE = 375
SMALLEST_LABEL_PX = 11


@pytest.mark.slow
def test_a_phone_stacks_the_figures_and_keeps_the_chart_readable(server: str) -> None:
    """At 375 px the tool page's figure tiles stand one above the other, the chart's axis labels
    render at 11 px or more, and neither the tool page nor /audit scrolls sideways."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": PHONE, "height": 800})
            page.goto(f"{server}/tools/smollm3")
            tiles = page.locator("main dl.figures:not(.compact) > .figure")
            boxes = [tiles.nth(i).bounding_box() for i in range(tiles.count())]
            assert len(boxes) >= 3 and all(box is not None for box in boxes), boxes
            lefts = {round(box["x"]) for box in boxes if box}
            tops = [box["y"] for box in boxes if box]
            assert len(lefts) == 1 and tops == sorted(set(tops)), boxes
            labels = page.locator("svg.chart text.axis")
            assert labels.count() >= 3
            heights = [labels.nth(i).bounding_box() for i in range(labels.count())]
            assert min(h["height"] for h in heights if h) >= SMALLEST_LABEL_PX, heights
            chart = page.locator("svg.chart").first.bounding_box()
            assert chart is not None
            inside = [chart["x"] <= h["x"] and h["x"] + h["width"] <= chart["x"] + chart["width"]
                      for h in heights if h]  # fmt: skip
            assert all(inside), ("a label is cut off", chart, heights)
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE, "overflows"
            page.screenshot(path=SCREENSHOTS / f"tool-{PHONE}-stacked.png", full_page=True)
            page.goto(f"{server}/audit")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE, "overflows"
            page.screenshot(path=SCREENSHOTS / f"audit-{PHONE}.png", full_page=True)
        finally:
            browser.close()
