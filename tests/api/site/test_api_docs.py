"""/docs works with no internet: Swagger UI's files come from this service, the page names its
language, and in a real browser with every other host cut off it lists the API's operations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Request, Route, sync_playwright

from domain.settings import Settings
from tests.api.site.test_browser import CHROMIUM, FLAGS, SCREENSHOTS, serving
from tests.scripts.drill_harness import app_client


@pytest.fixture
def sqlite(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with serving(tmp_path) as base:
        yield base


def test_the_docs_page_loads_only_from_this_service(sqlite: Settings) -> None:
    with app_client(sqlite) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert '<html lang="en">' in page.text
        addresses = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert addresses and all(a.startswith("/") for a in addresses), addresses
        for address in addresses:
            asset = client.get(address)
            assert asset.status_code == 200, address
            assert asset.content, address
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "http" not in policy


@pytest.mark.slow
def test_the_docs_render_offline_in_a_browser(server: str) -> None:
    """Chromium with every request to another host aborted: the operations are listed, and
    nothing was even asked of another host."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/test, which installs it"
    elsewhere: list[str] = []

    def only_here(route: Route, request: Request) -> None:
        if request.url.startswith(server):
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.route("**/*", only_here)
            page.goto(f"{server}/docs")
            page.wait_for_selector(".opblock", timeout=15_000)
            assert page.locator(".opblock").count() > 10
            assert page.evaluate("document.documentElement.lang") == "en"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOTS / "api-docs.png")
        finally:
            browser.close()
    assert elsewhere == [] and errors == [], (elsewhere, errors)
