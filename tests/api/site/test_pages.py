"""The HTML pages through the real app and store, on SQLite and PostgreSQL: content, markup,
voting by form, cookies, CSRF refusals and the Atom feed."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit
from xml.etree.ElementTree import Element

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.bootstrap import open_runtime
from api.site.pages import BALLOTS_COOKIE, CSRF_COOKIE, VOTER_COOKIE
from api.site.wilson import percent_bounds, wilson_interval
from domain import rules
from domain.demo_data import COMPARISONS, TOOLS
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit.signed_note import open_note, parse_checkpoint
from projections.catalog.views import CATALOG
from tests.api.routes.test_reads import PUBLISHED
from tests.api.site.markup import assert_valid_html, text_of
from tests.builders import list_tools
from tests.builders import listing as listing_of

ATOM = "{http://www.w3.org/2005/Atom}"
SVG = "{http://www.w3.org/2000/svg}"
COMPARE = "/compare/claude-files-api-vs-smollm3"


@dataclass
class Site:
    client: TestClient

    @property
    def ledger(self) -> Any:
        return self.client.app.state.runtime.ledger

    def log_end(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)

    def get(self, path: str) -> Response:
        """GET once the views hold every write so far (they are followed in a thread)."""
        base, _, query = path.partition("?")
        params = {**dict(parse_qsl(query)), "min_position": self.log_end()}
        return self.client.get(base, params=params)

    def page(self, path: str, status: int = 200) -> Element:
        """`get` a page; check its status, headers, markup and the position it names."""
        response = self.get(path)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        root = assert_valid_html(response.text)
        assert position_of(root) == self.log_end(), "the page names a stale log position"
        return root

    def vote(self, slug: str, choice: str, **form: str) -> Response:
        """Post a vote form as a browser would (the token from the page's cookie)."""
        csrf = self.client.cookies.get(CSRF_COOKIE) or self.csrf_from_page()
        data = {"csrf": csrf, "choice": choice, "back": COMPARE, **form}
        return self.client.post(f"/tools/{slug}/vote", data=data, follow_redirects=False)

    def csrf_from_page(self) -> str:
        root = assert_valid_html(self.get(COMPARE).text)
        field = next(e for e in root.iter("input") if e.get("name") == "csrf")
        return field.get("value") or ""


def by_id(root: Element, element_id: str) -> Element:
    found = next((e for e in root.iter() if e.get("id") == element_id), None)
    assert found is not None, f"no element #{element_id}"
    return found


def figure(root: Element, container: str, name: str) -> str:
    element = next(e for e in by_id(root, container).iter() if e.get("data-figure") == name)
    return text_of(element)


def position_of(root: Element) -> int:
    marked = next(e for e in by_id(root, "rendered-at").iter() if e.get("data-position") == "")
    return int(text_of(marked))


def seeded_site(settings: Settings) -> Iterator[Site]:
    """The site over the demo data on `settings`' store."""
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    runtime.close()
    # https: the cookies are Secure, and the test client only sends them back over https.
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield Site(client)


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    yield from seeded_site(settings)


def test_every_page_is_valid_html_and_names_its_log_position(site: Site) -> None:
    """Front page, five comparisons, six tools and the 404 pages: strict HTML5, one h1, unique
    ids, resolvable references, and the log position they were rendered at."""
    site.page("/")
    for left, right in COMPARISONS:
        site.page(f"/compare/{left}-vs-{right}")
    for tool in TOOLS:
        site.page(f"/tools/{tool.slug}")
    site.page("/tools/ghost", 404)
    site.page("/tools/Not_A_Slug", 404)
    site.page("/compare/smollm3-vs-ghost", 404)
    site.page("/compare/smollm3-vs-smollm3", 404)


PAGES = ["/", COMPARE, "/tools/smollm3", "/audit", "/feed.xml"]


def test_odd_min_positions_are_ignored_by_every_page(site: Site) -> None:
    """A page's `?min_position=` is a receipt it was linked with: one it cannot read as a
    position (Unicode digits, 5,000 digits, past 64 bits, negative) is ignored, never a 500."""
    site.page("/")  # the views have folded the demo data
    for value in ["\u00b2", "\u0663", "\uff11", "9" * 5000, "9" * 20, "-1", "1e3", " 1"]:
        for path in PAGES:
            answer = site.client.get(path, params={"min_position": value})
            assert answer.status_code == 200, (path, value, answer.text[:200])


def test_front_page_lists_comparisons_and_tools_newest_first(site: Site) -> None:
    """Comparisons newest first with both tools' scores; the six tools with theirs."""
    root = site.page("/")
    links = [a.get("href") for a in root.iter("a") if (a.get("href") or "").startswith("/compare")]
    assert links == [f"/compare/{a}-vs-{b}" for a, b in reversed(COMPARISONS)]
    cards = [text_of(li) for li in by_id(root, "tools").iter("li")]
    assert len(cards) == len(TOOLS)
    names = [t.name for t in reversed(TOOLS)]
    assert [next(n for n in names if n in card) for card in cards] == names
    for tool, card in zip(reversed(TOOLS), cards, strict=True):
        assert f"Panel ship {PUBLISHED[tool.slug]}%" in card
        assert "Community — no votes yet" in card


@pytest.mark.parametrize(("left", "right"), COMPARISONS)
def test_compare_page_shows_both_tools_and_the_scorecard(site: Site, left: str, right: str) -> None:
    """Panel ship %, "—" for a community without votes, pricing, and each reviewer's verdict
    written out as "Ship" or "Skip" (not colour alone)."""
    root = site.page(f"/compare/{left}-vs-{right}")
    tools = {t.slug: t for t in TOOLS}
    for slug in (left, right):
        card = text_of(by_id(root, f"tool-{slug}"))
        assert figure(root, f"tool-{slug}", "panel") == f"{PUBLISHED[slug]}%"
        assert figure(root, f"community-{slug}", "community") == "—"
        assert tools[slug].pricing in card and tools[slug].description in card
    assert text_of(by_id(root, "scorecard-title")) == "Reviewer scorecard"
    seats = [text_of(by_id(root, f"seat-{s}")) for s in ("builder", "skeptic", "buyer", "futurist")]
    assert seats == ["Builder", "Skeptic", "Buyer", "Futurist"]
    verdicts = [
        text_of(e) for e in root.iter("span") if (e.get("class") or "").startswith("decision ")
    ]
    expected = [
        "✓ Ship" if v.decision == "ship" else "✗ Skip"
        for pair in zip(tools[left].verdicts, tools[right].verdicts, strict=True)
        for v in pair
    ]
    assert verdicts == expected


def test_compare_reads_slugs_that_contain_vs(site: Site) -> None:
    """/compare/a-vs-b-vs-c finds the listed pair whichever "-vs-" separates it."""
    list_tools(site.ledger, "red-vs-blue", "green")
    root = site.page("/compare/red-vs-blue-vs-green")
    assert text_of(by_id(root, "card-red-vs-blue")) == "Red Vs Blue"
    assert text_of(by_id(root, "card-green")) == "Green"
    site.page("/compare/green-vs-red-vs-blue")
    site.page("/compare/red-vs-green", 404)


def test_a_long_compare_path_is_refused_before_any_split_is_read(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 60 KB `/compare/a-vs-a-vs-...` path (12,000 places to split) is a 404 at once: no side
    can be longer than a slug, so no slug is checked and nothing is looked up. Counted, not
    timed: every split read costs one `rules.slug` per side."""
    checked: list[str] = []
    real_slug = rules.slug

    def counting_slug(value: str, field: str = "slug") -> str:
        checked.append(value)
        return real_slug(value, field)

    monkeypatch.setattr(rules, "slug", counting_slug)
    looked_up: list[object] = []
    views = site.client.app.state.runtime.views
    real_lookup = views.tool_documents
    monkeypatch.setattr(views, "tool_documents", lambda *a: looked_up.append(a) or real_lookup(*a))
    pair = "-vs-".join(["a"] * 12_000)
    answer = site.client.get(f"/compare/{pair}")
    assert answer.status_code == 404
    assert checked == [] and looked_up == []
    assert site.get(COMPARE).status_code == 200
    assert len(checked) <= 2 * 2 and len(looked_up) == 1, "a real pair still reads as one"


def test_vote_change_and_retract_through_the_form(site: Site) -> None:
    """Ship, then skip, then the same again, then retract: each answers 303 to the page at the
    receipt's position, and the page shows the new tally and the visitor's vote at once."""
    cast = site.vote("smollm3", "ship")
    assert cast.status_code == 303
    target = urlsplit(cast.headers["location"])
    assert target.path == COMPARE and target.fragment == "vote-smollm3"
    receipt = int(parse_qs(target.query)["min_position"][0])
    assert receipt == site.log_end()
    page = assert_valid_html(site.client.get(cast.headers["location"]).text)
    assert position_of(page) >= receipt
    assert figure(page, "community-smollm3", "community") == "100%"
    assert "1 ship · 0 skip · 1 vote" in text_of(by_id(page, "community-smollm3"))
    assert text_of(by_id(page, "your-vote-smollm3")).startswith("Your vote: ✓ Ship")
    assert "95% interval 20\u2013100%" in text_of(by_id(page, "vote-smollm3"))
    assert "Recorded: you vote ship on SmolLM3." in text_of(by_id(page, "vote-smollm3"))

    changed = site.vote("smollm3", "skip")
    page = assert_valid_html(site.client.get(changed.headers["location"]).text)
    assert figure(page, "community-smollm3", "community") == "0%"
    assert text_of(by_id(page, "your-vote-smollm3")).startswith("Your vote: ✗ Skip")

    before = site.log_end()
    same = site.vote("smollm3", "skip")
    assert "min_position" not in same.headers["location"], "an unchanged vote wrote nothing"
    assert site.log_end() == before

    retracted = site.vote("smollm3", "retract")
    page = assert_valid_html(site.client.get(retracted.headers["location"]).text)
    assert figure(page, "community-smollm3", "community") == "—"
    assert "You have not voted on SmolLM3." in text_of(by_id(page, "vote-smollm3"))
    assert "Your vote on SmolLM3 is retracted." in text_of(by_id(page, "vote-smollm3"))

    again = site.vote("smollm3", "retract")
    assert again.status_code == 404 and "no current vote" in again.text
    assert_valid_html(again.text)


def test_vote_from_the_tool_page_returns_there(site: Site) -> None:
    """A vote posted from /tools/{slug} comes back to it; an unknown `back` falls back there."""
    ours = site.vote("smolvlm2-turbo", "ship", back="/tools/smolvlm2-turbo")
    assert urlsplit(ours.headers["location"]).path == "/tools/smolvlm2-turbo"
    foreign = site.vote("smolvlm2-turbo", "skip", back="https://elsewhere.example/")
    assert urlsplit(foreign.headers["location"]).path == "/tools/smolvlm2-turbo"
    assert urlsplit(foreign.headers["location"]).netloc == ""


def test_cookies_are_secure_httponly_lax_and_host_only(site: Site) -> None:
    """The CSRF cookie comes with the page; voter and ballots with the first vote; all Secure,
    HttpOnly, SameSite=Lax, Path=/, no Domain (`__Host-`)."""
    page = site.get(COMPARE)
    vote = site.vote("smollm3", "ship")
    headers = page.headers.get_list("set-cookie") + vote.headers.get_list("set-cookie")
    cookies: dict[str, Any] = {}
    for header in headers:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        cookies.update(jar)
        lowered = header.lower()
        assert "; secure" in lowered and "; httponly" in lowered, header
        assert "; samesite=lax" in lowered and "; path=/" in lowered, header
        assert "domain=" not in lowered, header
    assert set(cookies) == {CSRF_COOKIE, VOTER_COOKIE, BALLOTS_COOKIE}
    assert cookies[CSRF_COOKIE]["max-age"] == "", "the CSRF cookie lives for the session"
    assert int(cookies[VOTER_COOKIE]["max-age"]) > 30 * 24 * 3600
    voter_id = cookies[VOTER_COOKIE].value.partition(".")[0]
    assert cookies[BALLOTS_COOKIE].value == f"{voter_id}.smollm3:ship:{site.log_end()}"
    assert site.get(COMPARE).headers.get("set-cookie") is None, "the CSRF value is kept"


def test_csrf_and_cross_site_votes_are_refused_and_write_nothing(site: Site) -> None:
    """No token, a wrong token, no CSRF cookie, a foreign or opaque Origin, a foreign Referer:
    each is a 403 page and the log does not move. The same form from our own origin passes."""
    token = site.csrf_from_page()
    before = site.log_end()
    form = {"csrf": token, "choice": "ship", "back": COMPARE}
    refusals: list[tuple[dict[str, str], dict[str, str]]] = [
        ({k: v for k, v in form.items() if k != "csrf"}, {}),
        ({**form, "csrf": "x" * 43}, {}),
        (form, {"Origin": "https://attacker.example"}),
        (form, {"Origin": "null"}),
        (form, {"Referer": "https://attacker.example/page"}),
        (form, {"Cookie": ""}),  # last: the client then has no CSRF cookie
    ]
    for data, headers in refusals:
        if "Cookie" in headers:
            site.client.cookies.clear()
            headers = {}
        response = site.client.post(
            "/tools/smollm3/vote", data=data, headers=headers, follow_redirects=False
        )
        assert response.status_code == 403, (data, headers)
        assert "Vote refused" in text_of(assert_valid_html(response.text))
    assert site.log_end() == before, "a refused vote wrote to the log"
    form["csrf"] = site.csrf_from_page()  # the refusal page handed out a fresh CSRF cookie
    same_site = site.client.post(
        "/tools/smollm3/vote",
        data=form,
        headers={"Origin": "https://testserver", "Referer": f"https://testserver{COMPARE}"},
        follow_redirects=False,
    )
    assert same_site.status_code == 303
    assert site.log_end() == before + 1


def test_refused_votes_are_pages_with_the_api_status(site: Site) -> None:
    """A bad choice is 422, an unknown tool 404, a delisted tool 409: HTML, not JSON."""
    assert site.vote("smollm3", "maybe").status_code == 422
    ghost = site.vote("ghost", "ship")
    assert ghost.status_code == 404 and "no tool is listed" in ghost.text
    site.ledger.delist_tool("smolvlm2-turbo", "gone", "editor:ann")
    gone = site.vote("smolvlm2-turbo", "ship")
    assert gone.status_code == 409
    assert gone.headers["content-type"].startswith("text/html")
    root = site.page("/compare/claude-files-api-vs-smolvlm2-turbo")
    assert "it takes no more votes" in text_of(by_id(root, "vote-smolvlm2-turbo"))


def test_tool_page_shows_history_interval_and_chart(site: Site) -> None:
    """Amended and retracted verdicts with who and why, the Wilson interval once there are
    votes, and the score chart with one linked step per timeline point."""
    ledger = site.ledger
    ledger.amend_verdict(
        "smollm3",
        "buyer",
        "Buyer",
        "ship",
        "A community play worth backing.",
        "new data",
        "editor:ann",
    )
    ledger.retract_verdict("smollm3", "skeptic", "reviewer left the panel", "editor:bob")
    for voter, choice in (("voter:a", "ship"), ("voter:b", "ship"), ("voter:c", "skip")):
        ledger.vote("smollm3", voter, choice)
    root = site.page("/tools/smollm3")
    panel = text_of(by_id(root, "panel"))
    assert "3 of 3 current verdicts say ship: 100%" in panel
    buyer = text_of(by_id(root, "seat-buyer"))
    assert "Amended" in buyer and "by editor:ann — new data. Now ✓ Ship" in buyer
    assert "Published" in buyer and "“Nothing here to sell or defend" in buyer
    assert "A community play worth backing." in buyer
    skeptic = text_of(by_id(root, "seat-skeptic"))
    assert "Retracted" in skeptic and "by editor:bob — reviewer left the panel." in skeptic
    low, high = percent_bounds(wilson_interval(2, 3) or (0.0, 0.0))
    vote = text_of(by_id(root, "vote-smollm3"))
    assert f"67% 2 ship · 1 skip · 3 votes · 95% interval {low}\u2013{high}%" in vote
    chart = by_id(root, "chart-smollm3")
    steps = [a.get("href") for a in chart.iter(f"{SVG}a")]
    timeline = site.client.app.state.runtime.views.tool_timeline(CATALOG, "smollm3")
    sizes = [int(p.partition(b'"size":')[2].split(b",")[0]) for p in timeline.docs]
    assert steps == [f"/v1/tools/smollm3?as_of={n}" for n in sizes]
    assert len(steps) >= 10
    last = site.client.get(steps[-1]).json()
    assert last["community"] == {"ship": 2, "skip": 1, "total": 3, "ship_pct": 67, "voided": 0}


def test_feed_is_atom_with_every_comparison_and_verdict_change(site: Site) -> None:
    """/feed.xml parses as Atom: an entry per published comparison and per verdict change,
    newest first, each with a unique id, a title, a link and an RFC 3339 time."""
    site.ledger.amend_verdict(
        "smollm3", "buyer", "Buyer", "ship", "Worth it after all.", "new data", "editor:ann"
    )
    response = site.client.get("/feed.xml", params={"min_position": site.log_end()})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)  # noqa: S314 - our own output, under test
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == "http://127.0.0.1:8000/feed.xml"  # VERDICT_PUBLIC_URL
    assert f"log position {site.log_end()}" in (feed.findtext(f"{ATOM}subtitle") or "")
    entries = feed.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") or "" for e in entries]
    comparisons = [t for t in titles if t.startswith("New comparison: ")]
    assert len(comparisons) == len(COMPARISONS)
    assert "New comparison: Claude Files API vs SmolLM3" in comparisons
    assert titles[0] == "SmolLM3: Buyer verdict amended (ship)"
    assert sum(" verdict published " in t for t in titles) == 4 * len(TOOLS)
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == len(ids)
    for entry in entries:
        link = entry.find(f"{ATOM}link")
        assert link is not None and (link.get("href") or "").startswith("http://127.0.0.1:8000/")
        datetime.fromisoformat(entry.findtext(f"{ATOM}updated") or "")
    links = {e.find(f"{ATOM}link").get("href") for e in entries}
    assert "http://127.0.0.1:8000/compare/claude-files-api-vs-smollm3" in links


PUBLIC = "https://ledger.example/verdicts"


def _feed(site: Site, **headers: str) -> Response:
    """/feed.xml as a feed reader asks for it (no query), once the views hold every write."""
    site.client.app.state.runtime.views.wait_for(CATALOG, site.log_end(), 5.0)
    return site.client.get("/feed.xml", headers=headers)


def test_feed_ids_come_from_the_public_url_and_never_from_the_host(settings: Settings) -> None:
    """VERDICT_PUBLIC_URL names the feed, its entries and their links whatever Host a request
    carries, and an entry's id is a function of that URL and the entry's log position alone,
    so it is the same on every request, after every restart and rebuild, for ever."""
    public = Settings(database_url=settings.database_url, public_url=PUBLIC + "/")
    for site in seeded_site(public):
        seen = []
        for host in ("testserver", "evil.example", "127.0.0.1:9999"):
            feed = ET.fromstring(_feed(site, Host=host).content)  # noqa: S314 - our own output
            assert feed.findtext(f"{ATOM}id") == f"{PUBLIC}/feed.xml"
            self_link = next(e for e in feed.findall(f"{ATOM}link") if e.get("rel") == "self")
            assert self_link.get("href") == f"{PUBLIC}/feed.xml"
            entries = feed.findall(f"{ATOM}entry")
            for entry in entries:
                link = entry.find(f"{ATOM}link")
                assert link is not None and (link.get("href") or "").startswith(PUBLIC + "/")
            seen.append([e.findtext(f"{ATOM}id") for e in entries])
        assert seen[0] == seen[1] == seen[2]
        first = min(
            (e for e in ET.fromstring(_feed(site).content).findall(f"{ATOM}entry")),  # noqa: S314
            key=lambda e: int(re.findall(r"position (\d+)", e.findtext(f"{ATOM}summary") or "")[0]),
        )
        position = re.findall(r"position (\d+)", first.findtext(f"{ATOM}summary") or "")[0]
        assert position == "3"
        # uuid5(NAMESPACE_URL, f"{PUBLIC}/feed.xml#3"), written out: a change of scheme fails here
        assert first.findtext(f"{ATOM}id") == "urn:uuid:7079f003-66b7-5e99-8afb-6edaa48e217f"


def test_the_audit_page_names_the_public_url_whatever_the_host(settings: Settings) -> None:
    """The verify command /audit shows is a URL to paste: the configured one, never one a
    request's Host header made up."""
    public = Settings(database_url=settings.database_url, public_url=PUBLIC)
    for site in seeded_site(public):
        page = site.client.get("/audit", headers={"Host": "evil.example"})
        assert f"scripts/verify.py {PUBLIC}<" in page.text
        assert "evil.example" not in page.text


def test_feed_has_validators_and_answers_304(site: Site) -> None:
    """ETag and Last-Modified (the newest entry's time); 304 on If-None-Match and on
    If-Modified-Since; a vote, which is no entry, leaves the feed as it was; a verdict moves it."""
    first = _feed(site)
    tag, modified = first.headers["etag"], first.headers["last-modified"]
    assert modified.endswith(" GMT")
    assert _feed(site, **{"If-None-Match": tag}).status_code == 304
    assert _feed(site, **{"If-Modified-Since": modified}).status_code == 304
    assert _feed(site, **{"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200
    assert _feed(site, **{"If-Modified-Since": "not a date"}).status_code == 200
    site.ledger.vote("smollm3", "voter:ann", "ship")
    assert _feed(site, **{"If-None-Match": tag}).status_code == 304
    site.ledger.amend_verdict(
        "smollm3", "buyer", "Buyer", "ship", "Worth it after all.", "new data", "editor:ann"
    )
    moved = _feed(site, **{"If-None-Match": tag})
    assert moved.status_code == 200
    assert moved.headers["etag"] != tag


def test_feed_stays_xml_when_stored_text_holds_what_xml_cannot_carry(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second guard: text stored before the domain refused it (the rule is switched off
    here to store some) is stripped from the feed, which still parses."""
    with monkeypatch.context() as unguarded:
        unguarded.setattr(rules, "NOT_TEXT", re.compile("(?!)"))
        listing = {**listing_of("odd-tool"), "name": "Odd\uffffTool\x01"}
        site.ledger.list_tool("odd-tool", listing, "editor:ann")
        site.ledger.publish_comparison("odd-tool", "smollm3", "editor:ann")
        site.ledger.publish_verdict(
            "odd-tool", "builder", "Build\ufffeer", "ship", "Fine\x02.", "editor:ann"
        )
    response = site.client.get("/feed.xml", params={"min_position": site.log_end()})
    assert response.status_code == 200
    feed = ET.fromstring(response.content)  # noqa: S314 - our own output, under test
    titles = [e.findtext(f"{ATOM}title") or "" for e in feed.findall(f"{ATOM}entry")]
    assert titles[0] == "OddTool: Builder verdict published (ship)"
    assert "New comparison: OddTool vs SmolLM3" in titles


RLO = "\u202e"
"""RIGHT-TO-LEFT OVERRIDE: text after it reads backwards until the end of its paragraph, unless
the text that holds it is isolated (`<bdi>`, `dir="auto"`)."""


def test_user_text_is_isolated_so_an_override_reverses_nothing_else(site: Site) -> None:
    """Every text a user wrote, each starting with RLO, sits alone in an isolating element
    (`<bdi>` or `dir="auto"`) on the front, tool and compare pages, and is wrapped in FIRST
    STRONG ISOLATE ... POP DIRECTIONAL ISOLATE in titles, which take no markup."""
    listing = {f: f"{RLO}{f} of odd" for f in ("name", "category", "tagline", "description")}
    site.ledger.list_tool("odd-tool", {**listing, "pricing": f"{RLO}Free"}, "editor:ann")
    site.ledger.publish_verdict(
        "odd-tool", "builder", f"{RLO}Rev", "ship", f"{RLO}Text", "editor:ann"
    )
    site.ledger.amend_verdict(
        "odd-tool", "builder", f"{RLO}Rev", "skip", f"{RLO}Later", f"{RLO}Why", "editor:ann"
    )
    site.ledger.publish_comparison("odd-tool", "smollm3", "editor:ann")
    category = "/?" + urlencode({"category": listing["category"]})
    for path in ("/", category, "/tools/odd-tool", "/compare/odd-tool-vs-smollm3"):
        root = site.page(path)
        holders = [
            (parent, text)
            for parent in root.iter()
            for text in [parent.text or "", *(child.tail or "" for child in parent)]
            if RLO in text
        ]
        assert holders, path
        for element, text in holders:
            if str(element.tag).endswith("title"):  # <title>, and the chart's SVG <title>
                assert f"\u2068{RLO}" in text and "\u2069" in text, (path, text)
                continue
            isolated = element.tag == "bdi" or element.get("dir") == "auto"
            assert isolated, (path, element.tag, text)
            assert text_of(element) == text.strip(), (path, "the isolate holds more", text)


def test_static_files_are_served_locally(site: Site) -> None:
    """The stylesheet and the vote script come from us, nothing from another host."""
    css = site.client.get("/static/site.css")
    js = site.client.get("/static/vote.js")
    assert css.status_code == js.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "javascript" in js.headers["content-type"]
    for body in (css.text, js.text, site.get(COMPARE).text):
        assert "http://" not in body and "https://" not in body


def test_tool_page_offers_the_score_check_without_inline_script(site: Site) -> None:
    """The tool page loads static/check.js (no inline script: the CSP allows none), hides its
    button until the script runs, and says how to check with scripts/verify.py."""
    page = site.get("/tools/smollm3").text
    assert re.search(r'<script src="/static/check\.js\?v=[0-9a-f]{12}" defer></script>', page)
    assert re.search(r"<button[^>]*data-check-score=\"smollm3\"[^>]*hidden>", page)
    assert "python scripts/verify.py" in page
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == [], "an inline script"
    js = site.client.get("/static/check.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "http://" not in js.text and "https://" not in js.text


def test_audit_page_shows_a_checkpoint_that_verifies(site: Site) -> None:
    """/audit shows the latest signed checkpoint and the key it opens with, and how to verify."""
    deadline = time.monotonic() + 10
    while site.client.get("/v1/audit/checkpoint").status_code != 200:
        assert time.monotonic() < deadline, "no checkpoint signed in 10 s"
        time.sleep(0.02)
    root = site.page("/audit")
    notes = ["".join(pre.itertext()) for pre in root.iter("pre") if pre.get("class") == "note"]
    checkpoint = parse_checkpoint(open_note(notes[0], notes[1].strip()))
    assert checkpoint.size >= 41
    assert "scripts/verify.py" in text_of(root)


def test_every_score_links_to_its_proof(site: Site) -> None:
    """Both figures of both tools on a compare page link to a score proof with the same numbers."""
    root = site.page(COMPARE)
    proofs = [a.get("href") or "" for a in root.iter("a") if a.get("class") == "proof"]
    assert len(proofs) == 4
    for href in proofs:
        slug = href.split("/")[3]
        deadline = time.monotonic() + 10
        while (response := site.client.get(href)).status_code != 200:
            assert time.monotonic() < deadline, response.text
            time.sleep(0.02)
        assert response.json()["panel"]["ship_pct"] == PUBLISHED[slug]


def test_a_category_page_lists_that_category(site: Site) -> None:
    """/?category= shows only that category's tools (valid HTML, no comparisons); paging by
    rel=next and rel=prev is tried on 5,000 tools (test_catalog_size.py)."""
    response = site.client.get(
        "/", params={"category": "Developer Tools", "min_position": site.log_end()}
    )
    assert response.status_code == 200
    root = assert_valid_html(response.text)
    assert position_of(root) == site.log_end()
    cards = [text_of(li) for li in by_id(root, "tools").iter("li")]
    expected = [t for t in reversed(TOOLS) if t.category == "Developer Tools"]
    assert len(cards) == len(expected)
    assert all("Developer Tools" in card for card in cards)
    assert not any(e.get("id") == "comparisons" for e in root.iter())


def test_a_bad_page_cursor_is_an_error_page(site: Site) -> None:
    """?after= that no page gave out: 422, as an HTML page naming the problem."""
    response = site.client.get("/", params={"after": "garbage"})
    assert response.status_code == 422
    assert "No such page" in response.text
