"""The editor console through the real app and store, on SQLite and PostgreSQL: sign-in and its
session, CSRF, every editorial form, refusals shown on the field at fault with nothing written,
the preview's diff and panel %, and the editor's own actions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import Element

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.bootstrap import open_runtime
from api.site.editor import PAGE_SIZE, SESSION_COOKIE
from api.site.editor_sessions import SESSION_SECONDS
from api.site.pages import CSRF_COOKIE
from domain.demo_data import TOOLS
from domain.seeding import SEED_ACTOR, seed_demo
from domain.settings import Settings
from projections.catalog.percent import share
from projections.catalog.views import CATALOG
from projections.records import LedgerEvent
from tests.api.routes.test_reads import PUBLISHED
from tests.api.site.markup import assert_valid_html, text_of
from tests.api.site.test_pages import by_id, position_of
from tests.builders import list_tools

SLUG = "smollm3"


@dataclass
class Console:
    client: TestClient
    key: str

    @property
    def runtime(self) -> Any:
        return self.client.app.state.runtime

    def log_end(self) -> int:
        return int(self.runtime.ledger.recorder.max_notification_id() or 0)

    def csrf(self) -> str:
        if not self.client.cookies.get(CSRF_COOKIE):
            self.client.get("/editor")
        return self.client.cookies.get(CSRF_COOKIE) or ""

    def post(self, path: str, csrf: str | None = None, **form: str) -> Response:
        data = {"csrf": self.csrf() if csrf is None else csrf, **form}
        return self.client.post(path, data=data, follow_redirects=False)

    def sign_in(self, key: str | None = None) -> Response:
        return self.post("/editor/sign-in", key=self.key if key is None else key)

    def page(self, path: str, status: int = 200) -> Element:
        """GET a console page once the views hold every write; check status and markup."""
        joiner = "&" if "?" in path else "?"
        response = self.client.get(f"{path}{joiner}min_position={self.log_end()}")
        assert response.status_code == status, response.text
        return assert_valid_html(response.text)

    def follow(self, response: Response) -> Element:
        assert response.status_code == 303, response.text
        return assert_valid_html(self.client.get(response.headers["location"]).text)

    def tool(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.client.get(
            f"/v1/tools/{SLUG}", params={"min_position": self.log_end()}
        ).json()
        return doc


@pytest.fixture
def console(settings: Settings) -> Iterator[Console]:
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    key = runtime.credentials.create_key("ann")
    runtime.close()
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield Console(client, key)


def invalid_fields(root: Element) -> dict[str, str]:
    """{id of each field marked aria-invalid: the text of the error it is described by}."""
    ids = {e.get("id"): e for e in root.iter() if e.get("id")}
    found = {}
    for e in root.iter():
        if e.get("aria-invalid") == "true":
            described = (e.get("aria-describedby") or "").split()
            found[e.get("id") or ""] = " ".join(text_of(ids[d]) for d in described)
    return found


# -- signing in -------------------------------------------------------------------------------


def test_an_editor_key_signs_in_with_a_strict_expiring_host_cookie(console: Console) -> None:
    """The session cookie is __Host-, Secure, HttpOnly, SameSite=Strict, Path=/ and expires with
    the session; it holds a session id, not the key; the console then lists every tool."""
    signed = console.sign_in()
    assert signed.status_code == 303 and signed.headers["location"] == "/editor"
    cookie = SimpleCookie(signed.headers["set-cookie"])[SESSION_COOKIE]
    assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/"
    assert cookie["samesite"] == "strict" and int(cookie["max-age"]) == SESSION_SECONDS
    assert cookie.value.startswith("vls_") and console.key not in cookie.value
    stored = repr(console.runtime.credentials.db.fetch("SELECT * FROM editor_sessions"))
    assert cookie.value not in stored and console.key not in stored, "only hashes are kept"
    root = console.page("/editor")
    assert "Signed in as ann" in text_of(root)
    assert console.client.get("/editor").headers["cache-control"] == "no-store"
    for tool in TOOLS:
        row = text_of(by_id(root, f"row-{tool.slug}"))
        assert f"{PUBLISHED[tool.slug]}%" in row


def test_a_voter_token_or_a_wrong_key_cannot_sign_in(console: Console) -> None:
    """A voter token, an unknown key, a revoked key, nothing: each gets 401, the form again
    with the key field marked, and no session cookie."""
    revoked = console.runtime.credentials.create_key("bob")
    console.runtime.credentials.revoke_key("bob")
    voter = console.client.post("/v1/voters").json()["token"]
    for key in [voter, "vle_" + "A" * 43, revoked, "", console.key + "x"]:
        refused = console.sign_in(key)
        assert refused.status_code == 401, key
        for header in refused.headers.get_list("set-cookie"):
            sent = SimpleCookie(header)
            assert SESSION_COOKIE not in sent or sent[SESSION_COOKIE]["max-age"] == "0"
        assert not console.client.cookies.get(SESSION_COOKIE)
        fields = invalid_fields(assert_valid_html(refused.text))
        assert list(fields) == ["sign-in-key"]
        assert "not an active editor key" in fields["sign-in-key"]
    assert "Sign in" in text_of(console.page("/editor"))


def test_a_revoked_keys_session_is_refused_and_writes_nothing(console: Console) -> None:
    """Revoking the key ends its sessions at once: pages answer with the sign-in form, and a
    form posted with the old cookie writes nothing."""
    console.sign_in()
    console.page(f"/editor/tools/{SLUG}")
    console.runtime.credentials.revoke_key("ann")
    root = console.page(f"/editor/tools/{SLUG}", 401)
    assert "Your session has ended" in text_of(root)
    before = console.log_end()
    session = "vls_" + "x" * 43
    refused = console.post(f"/editor/tools/{SLUG}/delist", reason="gone")
    assert refused.status_code == 401 and console.log_end() == before
    console.client.cookies.set(SESSION_COOKIE, session, domain="testserver")
    assert console.post(f"/editor/tools/{SLUG}/delist", reason="x").status_code == 401
    assert console.log_end() == before


def test_signing_out_ends_the_session_even_for_a_replayed_cookie(console: Console) -> None:
    console.sign_in()
    session = console.client.cookies.get(SESSION_COOKIE) or ""
    assert console.post("/editor/sign-out").status_code == 303
    console.client.cookies.set(SESSION_COOKIE, session, domain="testserver")
    assert "Sign in" in text_of(console.page("/editor/actions", 401))


# -- CSRF -------------------------------------------------------------------------------------

FORMS = [
    (
        "/editor/tools",
        {
            "slug": "new-one",
            "name": "N",
            "category": "C",
            "tagline": "T",
            "description": "D",
            "pricing": "Free",
        },
    ),
    (f"/editor/tools/{SLUG}/amend", {"pricing": "Paid", "reason": "price went up"}),
    (f"/editor/tools/{SLUG}/delist", {"reason": "gone"}),
    (
        f"/editor/tools/{SLUG}/seats/builder/publish",
        {"reviewer": "B", "decision": "skip", "text": "t", "reason": "r", "base": ""},
    ),
    (f"/editor/tools/{SLUG}/seats/builder/retract", {"reason": "r"}),
    ("/editor/comparisons", {"left": "smollm3", "right": "smolvlm2-turbo"}),
    ("/editor/comparisons/claude-files-api/smollm3/withdraw", {"reason": "r"}),
    ("/editor/sign-out", {}),
]


def test_csrf_refusals_write_nothing(console: Console) -> None:
    """Every console form without the visitor's CSRF value, with another value, or from another
    site, is refused (403) and writes nothing; the session survives."""
    console.sign_in()
    before = console.log_end()
    for path, form in FORMS:
        assert console.post(path, csrf="", **form).status_code == 403, path
        assert console.post(path, csrf="A" * 43, **form).status_code == 403, path
        forged = console.client.post(
            path,
            data={"csrf": console.csrf(), **form},
            headers={"origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert forged.status_code == 403, path
    assert console.log_end() == before
    assert "Signed in as ann" in text_of(console.page("/editor"))


def test_sign_in_needs_the_csrf_value_too(console: Console) -> None:
    assert console.post("/editor/sign-in", csrf="", key=console.key).status_code == 403
    assert not console.client.cookies.get(SESSION_COOKIE)


# -- verdicts ---------------------------------------------------------------------------------


def test_amend_a_verdict_after_previewing_the_diff_and_the_new_panel_percent(
    console: Console,
) -> None:
    """Preview shows the text's diff as <del>/<ins> and the panel % the amendment gives; it
    writes nothing. Amending without a reason is refused on the reason field; with one, the
    public tool page shows the new verdict, its history and the previewed %."""
    console.sign_in()
    doc = console.tool()
    builder = next(v for v in doc["panel"]["verdicts"] if v["seat"] == "builder")
    flipped = "skip" if builder["decision"] == "ship" else "ship"
    new_text = builder["text"] + " Later releases broke the API twice."
    before = console.log_end()
    form = {"reviewer": builder["reviewer"], "decision": flipped, "text": new_text}
    previewed = console.post(f"/editor/tools/{SLUG}/seats/builder/preview", **form)
    assert previewed.status_code == 200 and console.log_end() == before
    root = assert_valid_html(previewed.text)
    diff = by_id(root, "diff")
    assert [text_of(e) for e in diff.iter("ins")] == ["added: Later releases broke the API twice."]
    assert not list(diff.iter("del"))
    ship = doc["panel"]["ship"] + (1 if flipped == "ship" else -1)
    expected = share(ship, doc["panel"]["total"])
    assert figure_after(root) == f"{expected}%"
    base = next(e.get("value") for e in root.iter("input") if e.get("name") == "base")
    assert base == str(builder["position"])

    refused = console.post(f"/editor/tools/{SLUG}/seats/builder/publish", base=base, **form)
    assert refused.status_code == 422 and console.log_end() == before
    fields = invalid_fields(assert_valid_html(refused.text))
    assert list(fields) == ["seat-builder-reason"] and "reason" in fields["seat-builder-reason"]

    amended = console.post(
        f"/editor/tools/{SLUG}/seats/builder/publish", base=base, reason="re-tested", **form
    )
    assert amended.status_code == 303
    receipt = int(parse_qs(urlsplit(amended.headers["location"]).query)["min_position"][0])
    assert receipt == console.log_end() > before
    public = console.page(f"/tools/{SLUG}")
    assert position_of(public) >= receipt
    seat = text_of(by_id(public, "seat-builder"))
    assert "Later releases broke the API twice." in seat
    assert "re-tested" in text_of(public)
    assert console.tool()["panel"]["ship_pct"] == expected
    assert f"{expected}%" in text_of(public)


def figure_after(root: Element) -> str:
    return text_of(next(e for e in root.iter() if e.get("data-figure") == "panel-after"))


def test_preview_diff_marks_removed_words(console: Console) -> None:
    console.sign_in()
    builder = next(v for v in console.tool()["panel"]["verdicts"] if v["seat"] == "builder")
    words = builder["text"].split()
    form = {"reviewer": "R", "decision": builder["decision"], "text": " ".join(words[1:])}
    root = assert_valid_html(
        console.post(f"/editor/tools/{SLUG}/seats/builder/preview", **form).text
    )
    assert [text_of(e) for e in by_id(root, "diff").iter("del")] == [f"removed: {words[0]}"]


def test_a_stale_preview_is_shown_again_and_writes_nothing(console: Console) -> None:
    """Another editor amended the seat after the preview: publishing the old preview shows the
    preview again, against the new version."""
    console.sign_in()
    builder = next(v for v in console.tool()["panel"]["verdicts"] if v["seat"] == "builder")
    console.runtime.ledger.put_verdict(
        SLUG, "builder", "Other", builder["decision"], "Rewritten.", "editor:bob", "typo"
    )
    before = console.log_end()
    stale = console.post(
        f"/editor/tools/{SLUG}/seats/builder/publish",
        base=str(builder["position"]),
        reviewer="R",
        decision=builder["decision"],
        text="Mine.",
        reason="mine",
    )
    assert stale.status_code == 200 and console.log_end() == before
    root = assert_valid_html(stale.text)
    assert "changed since your preview" in text_of(by_id(root, "stale"))


def test_publish_into_an_empty_seat_and_retract_with_a_reason(console: Console) -> None:
    console.sign_in()
    list_tools(console.runtime.ledger, "fresh")
    slug = "fresh"
    form = {"reviewer": "Ann", "decision": "ship", "text": "Works."}
    root = assert_valid_html(console.post(f"/editor/tools/{slug}/seats/buyer/preview", **form).text)
    assert figure_after(root) == "100%"
    assert [text_of(e) for e in by_id(root, "diff").iter("ins")] == ["added: Works."]
    page = console.follow(
        console.post(f"/editor/tools/{slug}/seats/buyer/publish", base="0", **form)
    )
    assert "Recorded: published" in text_of(page)
    before = console.log_end()
    refused = console.post(f"/editor/tools/{slug}/seats/buyer/retract", reason="  ")
    assert refused.status_code == 422 and console.log_end() == before
    assert list(invalid_fields(assert_valid_html(refused.text))) == ["retract-buyer-reason"]
    console.follow(console.post(f"/editor/tools/{slug}/seats/buyer/retract", reason="withdrawn"))
    doc = console.client.get(f"/v1/tools/{slug}", params={"min_position": console.log_end()})
    assert doc.json()["panel"]["total"] == 0


def test_a_bad_verdict_field_is_marked_on_the_seat_form(console: Console) -> None:
    console.sign_in()
    list_tools(console.runtime.ledger, "fresh")
    before = console.log_end()
    refused = console.post(
        "/editor/tools/fresh/seats/buyer/publish", base="0", reviewer="", decision="ship", text="x"
    )
    assert refused.status_code == 422 and console.log_end() == before
    assert list(invalid_fields(assert_valid_html(refused.text))) == ["seat-buyer-reviewer"]
    no_decision = console.post("/editor/tools/fresh/seats/buyer/preview", reviewer="A", text="x")
    assert list(invalid_fields(assert_valid_html(no_decision.text))) == ["seat-buyer-decision"]


# -- listings ---------------------------------------------------------------------------------


def test_list_amend_and_delist_a_tool(console: Console) -> None:
    """Refusals name their field (a missing field, a taken slug, a missing reason) and write
    nothing; accepted forms land and show at once."""
    console.sign_in()
    listing = {
        "slug": "new-one",
        "name": "New One",
        "category": "Coding",
        "tagline": "Fast",
        "description": "A new tool.",
        "pricing": "Free",
    }
    before = console.log_end()
    missing = console.post("/editor/tools", **{**listing, "name": ""})
    assert missing.status_code == 422 and console.log_end() == before
    assert list(invalid_fields(assert_valid_html(missing.text))) == ["new-tool-name"]
    taken = console.post("/editor/tools", **{**listing, "slug": SLUG})
    assert taken.status_code == 409 and console.log_end() == before
    assert list(invalid_fields(assert_valid_html(taken.text))) == ["new-tool-slug"]

    page = console.follow(console.post("/editor/tools", **listing))
    assert "New One" in text_of(page)
    listed = console.log_end()
    assert listed > before  # PostgreSQL may skip the positions of refused inserts

    no_reason = console.post("/editor/tools/new-one/amend", **{**listing, "pricing": "Paid"})
    assert no_reason.status_code == 422 and console.log_end() == listed
    assert list(invalid_fields(assert_valid_html(no_reason.text))) == ["listing-reason"]
    console.follow(
        console.post("/editor/tools/new-one/amend", **{**listing, "pricing": "Paid", "reason": "r"})
    )
    assert console.client.get("/v1/tools/new-one").json()["pricing"] == "Paid"

    assert console.post("/editor/tools/new-one/delist", reason="").status_code == 422
    console.follow(console.post("/editor/tools/new-one/delist", reason="duplicate"))
    assert (
        console.client.get("/v1/tools/new-one", params={"min_position": console.log_end()}).json()[
            "status"
        ]
        == "delisted"
    )


def test_the_tool_list_is_paginated(console: Console) -> None:
    console.sign_in()
    list_tools(console.runtime.ledger, *(f"t{i:02d}" for i in range(PAGE_SIZE)))
    first = console.page("/editor")
    rows = [e for e in by_id(first, "tools").iter("tr") if (e.get("id") or "").startswith("row-")]
    assert len(rows) == PAGE_SIZE
    assert any(a.get("href") == "/editor?page=2" for a in first.iter("a"))
    second = console.page("/editor?page=2")
    rest = [e for e in by_id(second, "tools").iter("tr") if (e.get("id") or "").startswith("row-")]
    assert len(rest) == len(TOOLS)


# -- comparisons ------------------------------------------------------------------------------


def test_publish_and_withdraw_a_comparison(console: Console) -> None:
    console.sign_in()
    before = console.log_end()
    same = console.post("/editor/comparisons", left=SLUG, right="")
    assert same.status_code == 422 and console.log_end() == before
    assert list(invalid_fields(assert_valid_html(same.text))) == ["new-comparison-right"]
    page = console.follow(console.post("/editor/comparisons", left=SLUG, right="smolvlm2-turbo"))
    assert "smollm3 vs smolvlm2-turbo · published" in text_of(page)
    path = f"/editor/comparisons/{SLUG}/smolvlm2-turbo/withdraw"
    refused = console.post(path, reason="")
    assert refused.status_code == 422
    assert list(invalid_fields(assert_valid_html(refused.text))) == [
        f"withdraw-{SLUG}-vs-smolvlm2-turbo-reason"
    ]
    page = console.follow(console.post(path, reason="no longer comparable"))
    assert "smollm3 vs smolvlm2-turbo · withdrawn" in text_of(page)


# -- the editor's own actions -----------------------------------------------------------------


def test_my_actions_are_this_editors_events_newest_first_each_linked_to_its_position(
    console: Console,
) -> None:
    """The list equals the log's events whose actor is this editor, newest first, a page at a
    time; another editor's events and votes are not in it."""
    console.sign_in()
    ledger = console.runtime.ledger
    list_tools(ledger, *(f"a{i:02d}" for i in range(PAGE_SIZE + 3)), actor="editor:ann")
    list_tools(ledger, "bobs", actor="editor:bob")
    ledger.vote("a00", "v_x", "ship")
    mine = [
        e.position
        for e in map(LedgerEvent.from_notification, ledger.recorder.select_notifications(1, 10_000))
        if e.data.get("actor") == "editor:ann"
    ][::-1]
    seen: list[int] = []
    path = "/editor/actions"
    while True:
        root = console.page(path)
        links = [a.get("href") or "" for a in by_id(root, "actions").iter("a")]
        seen += [int(parse_qs(urlsplit(h).query)["position"][0]) for h in links]
        assert all(h.startswith("/v1/audit/proofs/inclusion?position=") for h in links)
        nxt = next((a.get("href") for a in root.iter("a") if a.get("rel") == "next"), None)
        if nxt is None:
            break
        path = nxt
    assert seen == mine and len(mine) == PAGE_SIZE + 3
    proof = console.client.get(f"/v1/audit/proofs/inclusion?position={mine[0]}")
    assert proof.status_code in (200, 404)  # 404 only until the audit log holds it


def test_the_seed_actors_actions_are_in_the_index_too(console: Console) -> None:
    """The index keeps every editorial actor (the demo data's included), from the whole log."""
    views = console.runtime.views
    assert views.wait_for(CATALOG, console.log_end(), 10) == console.log_end()
    rows = views.actions(CATALOG, SEED_ACTOR, 2**62, 1000)
    kinds = {orjson.loads(d)["kind"] for d in rows.docs}
    assert {"Tool.Listed", "Panel.VerdictPublished", "Comparison.Published"} <= kinds


def test_a_session_of_another_role_is_not_an_editor_here(console: Console) -> None:
    """`signed_in` names whoever holds the session; the editorial pages want the editor role
    (a key whose role is changed, e.g. to a moderator's, edits nothing)."""
    console.sign_in()
    console.runtime.credentials.db.execute("UPDATE api_keys SET role='moderator' WHERE name='ann'")
    before = console.log_end()
    assert console.post(f"/editor/tools/{SLUG}/delist", reason="x").status_code == 401
    assert console.log_end() == before
    assert "Sign in" in text_of(console.page("/editor/actions", 401))


def test_the_seat_forms_are_the_configured_seats(settings: Settings) -> None:
    """A seat named in VERDICT_PANEL_SEATS gets its form (and takes a verdict); a seat the
    panel still holds but the settings no longer name keeps its form, to amend or retract."""
    seats = ["builder", "skeptic", "buyer", "lawyer"]
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    key = runtime.credentials.create_key("ann")
    runtime.close()
    configured = settings.model_copy(update={"panel_seats": seats})
    with TestClient(create_app(configured), base_url="https://testserver") as client:
        console = Console(client, key)
        console.sign_in()
        root = console.page(f"/editor/tools/{SLUG}")
        shown = [e.get("id") for e in root.iter("section")]
        assert shown == [f"editor-seat-{s}" for s in [*seats, "futurist"]]
        form = {"reviewer": "Counsel", "decision": "skip", "text": "Licence unclear."}
        page = console.follow(
            console.post(f"/editor/tools/{SLUG}/seats/lawyer/publish", base="0", **form)
        )
        assert "Recorded: published" in text_of(page)
        assert console.tool()["panel"]["total"] == 5
