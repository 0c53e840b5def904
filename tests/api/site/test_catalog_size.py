"""The pages and lists at the size of a real catalog (5,000 tools, issue 17): the home page stays
under 100 KB, every list answer under 200 KB, the feed at 50 entries. The catalog is folded from
generated events and committed as the projection commits it (no event store behind it: the
views are what these answers read)."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import open_runtime
from api.routes.reads import MAX_LIMIT
from api.site.pages import FEED_ENTRIES, FRONT_TOOLS
from domain.demo_data import TOOLS
from domain.settings import Settings
from projections.catalog.fold import fold_catalog
from projections.catalog.views import CATALOG
from tests.api.site.markup import assert_valid_html
from tests.builders import ToolSpec, catalog_events, listing

HOME_BYTES = 100_000
LIST_BYTES = 200_000
ATOM = "{http://www.w3.org/2005/Atom}"


def serve(tmp_path: Path, specs: list[ToolSpec], compare_every: int = 0) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    runtime = open_runtime(settings)
    try:
        runtime.views.commit_catalog(
            runtime.views.generations.serving(CATALOG),
            0,
            fold_catalog(catalog_events(specs, compare_every)),
        )
    finally:
        runtime.close()
    with TestClient(create_app(settings)) as client:
        yield client


def realistic(n: int, rng: random.Random) -> ToolSpec:
    """A tool with a demo tool's description and verdict texts, in one of 20 categories."""
    model = TOOLS[n % len(TOOLS)]
    return ToolSpec(
        slug=f"tool-{n:05d}",
        category=f"Category {n % 20}",
        listed_at=f"2026-01-01T00:{n // 600:02d}:{n // 10 % 60:02d}.{n:06d}+00:00",
        verdicts=tuple(rng.choice(("ship", "skip")) for _ in range(4)),
        ship=rng.randint(0, 6),
        skip=rng.randint(0, 6),
        text=model.verdicts[0].text + " " + model.verdicts[1].text,
        description=model.description,
    )


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    rng = random.Random(17)
    specs = [realistic(n, rng) for n in range(5000)]
    yield from serve(tmp_path_factory.mktemp("big"), specs, compare_every=10)


def test_the_home_page_of_5000_tools_stays_small(big: TestClient) -> None:
    """The first page, a category page and a later page: each under 100 KB, with at most
    FRONT_TOOLS tools in each list and a rel=next link to the next page."""
    first = big.get("/")
    assert first.status_code == 200
    assert len(first.content) <= HOME_BYTES, len(first.content)
    assert first.text.count('class="card"') <= 3 * FRONT_TOOLS
    assert 'rel="next"' in first.text
    later = big.get(
        first.text.split('<link rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    )
    assert later.status_code == 200 and len(later.content) <= HOME_BYTES
    assert 'rel="prev"' in later.text
    for page in (first, later):
        assert_valid_html(page.text)
    category = big.get("/", params={"category": "Category 7"})
    assert category.status_code == 200 and len(category.content) <= HOME_BYTES
    assert category.text.count("Category 7") >= FRONT_TOOLS


@pytest.mark.parametrize("order", ["newest", "panel", "community"])
def test_a_full_list_page_of_5000_tools_stays_under_200_kb(big: TestClient, order: str) -> None:
    """limit=MAX_LIMIT: MAX_LIMIT tools, under 200 KB, and a `next`."""
    answer = big.get("/v1/tools", params={"limit": MAX_LIMIT, "order": order})
    assert len(answer.content) <= LIST_BYTES, len(answer.content)
    body = answer.json()
    assert len(body["tools"]) == MAX_LIMIT and body["next"] is not None
    comparisons = big.get("/v1/comparisons", params={"limit": MAX_LIMIT})
    assert len(comparisons.content) <= LIST_BYTES
    assert len(comparisons.json()["comparisons"]) == MAX_LIMIT


def test_the_feed_carries_the_latest_50_entries(big: TestClient) -> None:
    """50 entries, newest first, each naming its tool as the tool's own document does."""
    feed = ET.fromstring(big.get("/feed.xml").content)  # noqa: S314 - our own answer
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == FEED_ENTRIES
    newest_first = [int(e.findtext(f"{ATOM}summary", "").rsplit(" ", 1)[1][:-1]) for e in entries]
    assert newest_first == sorted(newest_first, reverse=True)
    for entry in entries:
        link = entry.find(f"{ATOM}link")
        assert link is not None
        slug = link.get("href", "").rsplit("/tools/", 1)[-1].split("#")[0]
        title = entry.findtext(f"{ATOM}title", "")
        if "/tools/" in link.get("href", ""):  # a verdict change names its tool
            assert title.startswith(listing(slug)["name"] + ":"), title


def test_a_page_of_heavy_documents_ends_before_200_kb(tmp_path: Path) -> None:
    """Thirty tools whose four verdicts are each 4,000 three-byte characters (about 50 KB a
    document): every answer stays under 200 KB, and `next` walks all thirty."""
    text = "€" * 4000
    specs = [
        ToolSpec(
            f"heavy-{n:02d}",
            "Heavy",
            f"2026-01-01T00:00:{n:02d}.000000+00:00",
            ("ship",) * 4,
            text=text,
        )
        for n in range(30)
    ]
    for client in serve(tmp_path, specs):
        walked: list[str] = []
        url: str | None = "/v1/tools?limit=100"
        while url is not None:
            answer = client.get(url)
            assert len(answer.content) <= LIST_BYTES, len(answer.content)
            body = answer.json()
            assert body["tools"]
            walked += [t["slug"] for t in body["tools"]]
            url = body["next"]
        assert walked == [s.slug for s in reversed(specs)]
