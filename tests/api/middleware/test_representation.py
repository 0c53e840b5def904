"""HTTP as browsers and caches expect it, through the real app on SQLite and PostgreSQL: answers
compressed when asked, HEAD wherever GET works, Allow on 405, an HTML 404 for browsers, and
ETags with 304 and immutable caching for answers pinned to a log size."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass

import brotli
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.middleware.compression import MIN_BYTES, compressible, negotiate
from api.middleware.security_headers import HEADERS
from api.site.pages import CSRF_COOKIE, SECURITY_HEADERS
from domain.settings import Settings
from projections.catalog.views import CATALOG
from tests.api.routes.test_audit import signed_size, vote
from tests.api.site.markup import assert_valid_html
from tests.builders import listing
from tests.scripts.drill_harness import app_client, sample, samples, seeded

IMMUTABLE = "public, max-age=31536000, immutable"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@dataclass
class Api:
    client: TestClient
    key: str

    def log_end(self) -> int:
        return int(self.client.app.state.runtime.ledger.recorder.max_notification_id() or 0)

    def raw(self, path: str, method: str = "GET", **headers: str) -> tuple[Response, bytes]:
        """The answer and its body as sent, before any content decoding."""
        with self.client.stream(method, path, headers=headers) as answer:
            return answer, b"".join(answer.iter_raw())


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """The app over the demo data, once its views hold all of it (so two reads in a row see
    the same position unless the test writes)."""
    key = seeded(settings)
    with app_client(settings) as client:
        api = Api(client, key)
        end = api.log_end()
        assert client.app.state.runtime.views.wait_for(CATALOG, end, 10.0) >= end
        yield api


# -- compression ------------------------------------------------------------------------------


def test_text_answers_are_compressed_as_asked_and_vary_on_it(api: Api) -> None:
    """br and gzip when asked (br preferred), identity otherwise; the decoded body is the
    identity body, Content-Length counts the bytes sent, and every variant says Vary."""
    plain, identity = api.raw("/v1/tools", **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(identity) > MIN_BYTES
    for asked, coding, decode in [
        ("gzip", "gzip", gzip.decompress),
        ("br", "br", brotli.decompress),
        ("gzip, deflate, br", "br", brotli.decompress),
        ("br;q=0.5, gzip", "gzip", gzip.decompress),
    ]:
        answer, sent = api.raw("/v1/tools", **{"Accept-Encoding": asked})
        assert answer.headers["content-encoding"] == coding, asked
        assert int(answer.headers["content-length"]) == len(sent) < len(identity)
        assert decode(sent) == identity
    for answer in (plain, api.raw("/v1/tools", **{"Accept-Encoding": "gzip"})[0]):
        assert "accept-encoding" in answer.headers["vary"].lower()


def test_pages_feed_and_static_files_are_compressed_too(api: Api) -> None:
    """HTML keeps its Vary: Cookie beside Accept-Encoding; CSS and Atom are text too."""
    for path in ("/", "/feed.xml", "/static/site.css", "/tools/smollm3"):
        answer, sent = api.raw(path, **{"Accept-Encoding": "gzip"})
        assert answer.status_code == 200, path
        assert answer.headers["content-encoding"] == "gzip", path
        assert gzip.decompress(sent)
    page = api.raw("/", **{"Accept-Encoding": "gzip"})[0]
    assert {v.strip().lower() for v in page.headers["vary"].split(",")} == {
        "cookie",
        "accept-encoding",
    }


def test_tiny_bodies_are_sent_as_they_are(api: Api) -> None:
    """A body under MIN_BYTES costs more to compress than it saves."""
    answer, sent = api.raw("/healthz", **{"Accept-Encoding": "gzip, br"})
    assert len(sent) < MIN_BYTES
    assert "content-encoding" not in answer.headers


def test_the_streamed_export_is_compressed_as_it_streams(api: Api) -> None:
    """/v1/audit/events streams NDJSON: gzip'd chunk by chunk, it decodes to the same lines."""
    _, identity = api.raw("/v1/audit/events", **{"Accept-Encoding": "identity"})
    answer, sent = api.raw("/v1/audit/events", **{"Accept-Encoding": "gzip"})
    assert answer.headers["content-encoding"] == "gzip"
    assert gzip.decompress(sent) == identity


def test_only_text_types_are_compressible() -> None:
    """Images, archives and fonts are compressed already; only text types are worth it."""
    for media in ("application/json", "text/html; charset=utf-8", "application/atom+xml",
                  "application/problem+json", "text/css", "image/svg+xml",
                  "application/x-ndjson", "text/javascript; charset=utf-8"):  # fmt: skip
        assert compressible(media), media
    for media in ("image/png", "image/jpeg", "application/zip", "application/gzip",
                  "font/woff2", "application/octet-stream", ""):  # fmt: skip
        assert not compressible(media), media


def test_negotiation_follows_the_q_values() -> None:
    """RFC 9110 §12.5.3: q=0 refuses a coding, `*` stands for the rest, ties go to br."""
    assert negotiate("") is None
    assert negotiate("gzip;q=0, br;q=0") is None
    assert negotiate("*") == "br"
    assert negotiate("br;q=0, *") == "gzip"
    assert negotiate("gzip;q=1.0, br;q=0.9") == "gzip"
    assert negotiate("GZIP") == "gzip"
    assert negotiate("deflate, identity") is None
    assert negotiate("br;q=nonsense, gzip") == "gzip"


# -- HEAD, 405, 404 ---------------------------------------------------------------------------

GETTABLE = [
    "/",
    "/tools/smollm3",
    "/compare/claude-files-api-vs-smollm3",
    "/audit",
    "/feed.xml",
    "/static/site.css",
    "/v1/tools",
    "/v1/tools/smollm3",
    "/v1/tools/smollm3?as_of=20",
    "/v1/comparisons",
    "/v1/tools/ghost",
    "/healthz",
    "/openapi.json",
]

VISITOR = {"Cookie": f"{CSRF_COOKIE}={'c' * 43}"}
"""A visitor who has a CSRF value already: the pages it gets are the same bytes each time."""


@pytest.mark.parametrize("coding", ["identity", "gzip"])
def test_head_answers_as_get_would_without_a_body(api: Api, coding: str) -> None:
    """HEAD wherever GET works: the same status and headers (Content-Length of the body GET
    sends, in the same coding), and no body."""
    signed_size(api.client, api.log_end())
    for path in GETTABLE:
        got, body = api.raw(path, **{"Accept-Encoding": coding, **VISITOR})
        head, nothing = api.raw(path, "HEAD", **{"Accept-Encoding": coding, **VISITOR})
        assert head.status_code == got.status_code, path
        assert nothing == b"", path
        assert int(head.headers["content-length"]) == len(body), path
        assert head.headers == got.headers, path


def test_a_head_is_counted_and_logged_under_its_route(api: Api) -> None:
    """The metrics and the access log outside see HEAD, with the route template GET matched."""
    labels = {"method": "HEAD", "route": "/v1/tools/{slug}", "status": "200"}
    before = sample(
        samples(api.client.get("/metrics").text), "verdict_http_requests_total", **labels
    )
    assert api.client.head("/v1/tools/smollm3").status_code == 200
    after = sample(
        samples(api.client.get("/metrics").text), "verdict_http_requests_total", **labels
    )
    assert after == before + 1


def allowed(answer: Response) -> set[str]:
    return {m.strip() for m in answer.headers["allow"].split(",")}


def test_405_lists_every_method_the_path_takes(api: Api) -> None:
    """Allow names the methods of every route on the path (not only the first one matched),
    with HEAD wherever GET is."""
    cases = {
        ("DELETE", "/v1/tools"): {"GET", "HEAD", "POST"},
        ("POST", "/v1/tools/smollm3"): {"GET", "HEAD", "PATCH", "DELETE"},
        ("POST", "/feed.xml"): {"GET", "HEAD"},
        ("GET", "/v1/voters"): {"POST"},
        ("PUT", "/"): {"GET", "HEAD"},
    }
    for (method, path), methods in cases.items():
        answer = api.client.request(method, path)
        assert answer.status_code == 405, (method, path)
        assert answer.headers["content-type"] == "application/problem+json"
        assert allowed(answer) == methods, (method, path)


def test_an_unknown_path_is_an_html_page_for_browsers(api: Api) -> None:
    """A browser (Accept prefers text/html) gets a 404 page with the pages' headers; an API
    client (JSON, or no preference) still gets problem+json."""
    page = api.client.get("/no/such/page", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 404
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    for name, value in HEADERS.items():
        assert page.headers[name] == value, name
    root = assert_valid_html(page.text)
    assert root is not None
    for accept in ("application/json", "*/*", "application/json, text/html;q=0.5", None):
        headers = {"Accept": accept} if accept else {}
        answer = api.client.get("/v1/no-such-route", headers=headers)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json", accept
    assert api.client.get("/v1/tools/ghost", headers={"Accept": BROWSER_ACCEPT}).headers[
        "content-type"
    ] == ("application/problem+json")


# -- validators and caching -------------------------------------------------------------------


def etag(answer: Response) -> str:
    value = answer.headers["etag"]
    assert re.fullmatch(r'"[^"]+"', value), value
    return value


def test_live_answers_carry_an_etag_of_their_log_position_and_answer_304(api: Api) -> None:
    """The ETag names the position the answer reflects; If-None-Match with it is a 304 with no
    body and the same validators; after a write the answer moves on (200, a new ETag)."""
    first = api.client.get("/v1/tools")
    position = first.json()["as_of"]["position"]
    tag = etag(first)
    assert tag.startswith(f'"p{position}-')
    assert first.headers["cache-control"] == "no-cache"
    again = api.client.get("/v1/tools", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert etag(again) == tag
    assert again.headers["cache-control"] == "no-cache"
    assert api.client.get("/v1/tools", headers={"If-None-Match": f'"x", W/{tag}'}).status_code == (
        304
    )
    assert api.client.get("/v1/tools", headers={"If-None-Match": "*"}).status_code == 304
    vote(api.client, "smollm3", "ship")
    moved = api.client.get("/v1/tools", headers={"If-None-Match": tag})
    assert moved.status_code == 200
    assert etag(moved) != tag


def test_a_304_keeps_the_headers_of_the_answer_it_stands_for(api: Api) -> None:
    """A cache updates the stored answer's headers from a 304: a page's 304 must carry the
    page's policy and Vary, an API answer's its own, and neither a body's length or coding."""
    for path in ("/tools/smollm3", "/v1/tools", "/docs"):
        full, _ = api.raw(path, **{"Accept-Encoding": "gzip", **VISITOR})
        again, body = api.raw(
            path, **{"Accept-Encoding": "gzip", **VISITOR, "If-None-Match": etag(full)}
        )
        assert again.status_code == 304, path
        assert body == b""
        stale = {"content-length", "content-encoding"}
        assert "content-encoding" not in again.headers and "content-length" not in again.headers
        assert {k: v for k, v in again.headers.items()} == {
            k: v for k, v in full.headers.items() if k not in stale
        }, path


def test_the_etag_differs_between_codings_and_between_pages(api: Api) -> None:
    """A gzip'd answer is another representation (its own ETag, never a 304 for the other);
    two pages of one list at one position differ too."""
    plain = etag(api.raw("/v1/tools", **{"Accept-Encoding": "identity"})[0])
    zipped = etag(api.raw("/v1/tools", **{"Accept-Encoding": "gzip"})[0])
    squeezed = etag(api.raw("/v1/tools", **{"Accept-Encoding": "br"})[0])
    assert len({plain, zipped, squeezed}) == 3
    cross, _ = api.raw("/v1/tools", **{"Accept-Encoding": "identity", "If-None-Match": zipped})
    assert cross.status_code == 200
    same, _ = api.raw("/v1/tools", **{"Accept-Encoding": "gzip", "If-None-Match": zipped})
    assert same.status_code == 304
    pages = {etag(api.client.get("/v1/tools", params={"limit": n})) for n in (1, 2, 3)}
    assert len(pages) == 3


def test_a_client_that_wrote_never_gets_304_for_what_it_saw_before(api: Api) -> None:
    """Read-your-own-writes and validators together: after its own write, a client revalidating
    the list it had is answered with the list that holds its write."""
    before = api.client.get("/v1/tools", params={"limit": 100})
    auth = {"Authorization": f"Bearer {api.key}"}
    listed = api.client.post(
        "/v1/tools", json={"slug": "fresh-tool", **listing("fresh-tool")}, headers=auth
    )
    assert listed.status_code == 201, listed.text
    after = api.client.get(
        "/v1/tools", params={"limit": 100}, headers={"If-None-Match": etag(before)}
    )
    assert after.status_code == 200
    assert "fresh-tool" in {t["slug"] for t in after.json()["tools"]}


def test_answers_pinned_to_a_log_size_are_immutable(api: Api) -> None:
    """A tool as of N events, an inclusion proof for a given size, a consistency proof: the
    same for ever, so cached for a year as immutable, and revalidated with a 304 all the same."""
    size = signed_size(api.client, api.log_end())
    pinned = [
        "/v1/tools/smollm3?as_of=20",
        f"/v1/audit/proofs/inclusion?index=0&size={size}",
        f"/v1/audit/proofs/consistency?first=1&second={size}",
        f"/v1/tools/smollm3/score-proof?size={size}",
    ]
    for path in pinned:
        answer = api.client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["cache-control"] == IMMUTABLE, path
        revalidated = api.client.get(path, headers={"If-None-Match": etag(answer)})
        assert revalidated.status_code == 304, path
    for live in ("/v1/tools/smollm3", "/v1/audit/proofs/inclusion?index=0", "/v1/tools"):
        assert api.client.get(live).headers["cache-control"] == "no-cache", live
    refused = api.client.get("/v1/tools/smollm3?as_of=999999")
    assert refused.status_code == 422
    assert "etag" not in refused.headers
    assert refused.headers.get("cache-control") != IMMUTABLE


def test_static_files_are_named_by_their_content_and_cached_for_a_year(api: Api) -> None:
    """Pages link static files with a hash of their content in the URL; that URL is immutable,
    the bare name is revalidated (it changes with a release)."""
    page = api.client.get("/tools/smollm3").text + api.client.get("/docs").text
    links = set(re.findall(r'(?:href|src)="(/(?:static|docs/assets)/[^"]+)"', page))
    assert {link.split("?")[0] for link in links} == {
        "/static/site.css",
        "/static/vote.js",
        "/static/check.js",
        "/static/api-docs.js",
        "/docs/assets/swagger-ui.css",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/favicon.png",
    }
    for link in links:
        assert re.search(r"\?v=[0-9a-f]{12}$", link), link
        answer = api.client.get(link)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == IMMUTABLE, link
        bare = api.client.get(link.split("?")[0])
        assert bare.headers["cache-control"] == "no-cache"
        assert api.client.get(link.split("?")[0] + "?v=000000000000").headers["cache-control"] == (
            "no-cache"
        )
