"""The moderation queue (/editor/moderation) through the real app and store, on SQLite and
PostgreSQL: which ballots it groups as coordinated, voiding a group from its form (the same
use case as the API), who may see it, and refused forms writing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import pytest
from httpx import Response

from api.site.editor import SESSION_COOKIE
from api.site.moderation_queue import RULE
from api.site.pages import VOTER_COOKIE
from api.voting.coordination import MIN_GROUP, PAGE_GROUPS
from domain.settings import Settings
from projections.following.rebuild import read_events
from tests.api.site.markup import assert_valid_html, text_of
from tests.api.site.test_editor import Console, invalid_fields
from tests.api.site.test_pages import by_id, seeded_site

SLUG = "smollm3"
MINUTE = 29_000_000
STUFFER = "192.0.2.1"


@dataclass
class Queue(Console):
    """The console, signed in (`sign_in()`) with a moderator key; `editor_key` is an editor's."""

    editor_key: str = ""

    def register(self, client: str, minute: int, votes: list[tuple[str, str]]) -> str:
        """A voter registered from `client` in `minute`, then voting `votes` (tool, choice)."""
        voting = self.client.app.state.voting
        voting.registry.now = lambda: minute * 60.0 + 30.0
        voter, _ = voting.register(client)
        for tool, choice in votes:
            self.runtime.ledger.vote(tool, voter.actor, choice)
        return str(voter.name)

    def queue(self, path: str = "/editor/moderation", status: int = 200) -> Element:
        assert self.client.get(path).headers["cache-control"] == "no-store"
        return self.page(path, status)

    def groups(self, root: Element) -> list[dict[str, str]]:
        """Each group's void form on the page, as a browser would send it untouched (but the
        CSRF value, which `void` adds)."""
        found = []
        for form in root.iter("form"):
            if form.get("action") == "/editor/moderation/voids":
                fields = {i.get("name", ""): i.get("value", "") for i in form.iter("input")}
                found.append({k: v for k, v in fields.items() if k != "csrf"})
        return found

    def void(self, group: dict[str, str], csrf: str | None = None, **form: str) -> Response:
        return self.post("/editor/moderation/voids", csrf, **{**group, **form})


@pytest.fixture
def queue(settings: Settings) -> Iterator[Queue]:
    for site in seeded_site(settings):
        keys = site.client.app.state.runtime.credentials
        moderator = keys.create_key("mo", role="moderator")
        yield Queue(site.client, moderator, editor_key=keys.create_key("ann"))


def stuff(queue: Queue) -> list[str]:
    """20 voters from one address in one minute voting ship, and the ones that must not be
    grouped with them: two of that burst voting skip, three from that address the next
    minute, four from another address that minute, five from a third who disagree."""
    stuffers = [queue.register(STUFFER, MINUTE, [(SLUG, "ship")]) for _ in range(20)]
    for _ in range(2):
        queue.register(STUFFER, MINUTE, [(SLUG, "skip")])
    for _ in range(3):
        queue.register(STUFFER, MINUTE + 1, [(SLUG, "ship")])
    for _ in range(4):
        queue.register("192.0.2.2", MINUTE, [(SLUG, "ship")])
    for i in range(5):
        queue.register("192.0.2.3", MINUTE, [(SLUG, "ship" if i < 3 else "skip")])
    return stuffers


def test_twenty_voters_from_one_address_in_one_minute_voting_ship_are_one_group(
    queue: Queue,
) -> None:
    """Only the 20 who share address, minute, tool and choice are grouped; the rest of their
    burst, the next minute, another address and a split burst are not."""
    stuffers = stuff(queue)
    assert queue.sign_in().headers["location"] == "/editor/moderation"
    root = queue.queue()
    groups = queue.groups(root)
    assert [(g["tool"], sorted(g["voters"].split())) for g in groups] == [(SLUG, sorted(stuffers))]
    assert "20 voters, ship on smollm3" in text_of(root)
    assert STUFFER not in text_of(root), "the address is never shown (nor kept)"


def test_voiding_from_the_page_voids_exactly_the_group(queue: Queue) -> None:
    """The form voids the group's 20 ballots through the moderation use case: the figures
    drop by 20, community.voided says 20, the events carry the reason, rule and moderator,
    and the group leaves the queue."""
    stuffers = stuff(queue)
    queue.sign_in()
    before = queue.tool()["community"]
    [group] = queue.groups(queue.queue())
    done = queue.void(group, reason="20 voters from one address in one minute")
    assert done.status_code == 303, done.text
    after = queue.tool()["community"]
    assert after["voided"] == before["voided"] + 20
    assert after["ship"] == before["ship"] - 20 and after["skip"] == before["skip"]
    assert after["total"] == before["total"] - 20
    voided = {
        b.voter.removeprefix("voter:")
        for b in queue.runtime.ledger.find_ballots([SLUG], [f"voter:{v}" for v in stuffers])
        if b.voided
    }
    assert voided == set(stuffers)
    events = [e for e in read_events(queue.runtime.ledger.recorder) if e.kind == "Ballot.Voided"]
    assert sorted(e.data["voter"] for e in events) == sorted(f"voter:{v}" for v in stuffers)
    said = {(e.data["reason"], e.data["rule"], e.data["actor"]) for e in events}
    assert said == {("20 voters from one address in one minute", RULE, "moderator:mo")}
    root = assert_valid_html(queue.client.get(done.headers["location"]).text)
    assert "Recorded: voided" in text_of(by_id(root, "done"))
    assert queue.groups(root) == []


def test_editors_voters_and_nobody_cannot_see_or_use_the_queue(queue: Queue) -> None:
    """An editor's session and a voter's token or cookie get 403; no session the sign-in form
    (401); none of them can void."""
    [stuffer, *_] = stuff(queue)
    group = {"group": "g", "tool": SLUG, "voters": stuffer, "after": ""}
    before = queue.log_end()
    queue.queue(status=401)
    assert queue.void(group, reason="r", rule="r").status_code == 401
    token = queue.client.post("/v1/voters").json()["token"]
    bearer = queue.client.get("/editor/moderation", headers={"authorization": f"Bearer {token}"})
    assert bearer.status_code == 403
    queue.client.cookies.set(VOTER_COOKIE, token)
    queue.queue(status=403)
    assert queue.void(group, reason="r", rule="r").status_code == 403
    queue.client.cookies.delete(VOTER_COOKIE)
    assert queue.sign_in(queue.editor_key).headers["location"] == "/editor"
    assert "Moderators only" in text_of(queue.queue(status=403))
    assert queue.void(group, reason="r", rule="r").status_code == 403
    assert queue.log_end() == before


def test_a_moderator_sees_only_the_moderation_pages(queue: Queue) -> None:
    queue.sign_in()
    assert queue.client.cookies.get(SESSION_COOKIE)
    for path in ["/editor", "/editor/comparisons", "/editor/actions", f"/editor/tools/{SLUG}"]:
        assert "Signed in as" not in queue.client.get(path).text, path


def test_refused_forms_write_nothing_and_mark_the_field(queue: Queue) -> None:
    """A CSRF refusal (403), a missing reason (422, reason marked) and a group one of whose
    ballots was voided meanwhile (409, the voters marked): nothing is written."""
    stuffers = stuff(queue)
    queue.sign_in()
    [group] = queue.groups(queue.queue())
    before = queue.log_end()
    assert queue.void(group, csrf="", reason="r").status_code == 403
    assert queue.void(group, csrf="A" * 43, reason="r").status_code == 403
    forged = queue.client.post(
        "/editor/moderation/voids",
        data={**group, "csrf": queue.csrf(), "reason": "r", "rule": "r"},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert queue.log_end() == before
    empty = queue.void(group, reason="  ")
    assert empty.status_code == 422
    fields = invalid_fields(assert_valid_html(empty.text))
    assert list(fields) == [f"{group['group']}-reason"]
    assert queue.log_end() == before
    queue.runtime.ledger.void_ballots(SLUG, stuffers[:1], "one", "rule", "moderator:mo")
    moved = queue.log_end()
    stale = queue.void(group, reason="stuffing")
    assert stale.status_code == 409
    problem = by_id(assert_valid_html(stale.text), f"{group['group']}-problem")
    assert problem.get("data-field") == "voters"
    assert queue.log_end() == moved


def test_the_queue_is_paginated_largest_first(queue: Queue) -> None:
    """More groups than a page holds: the first page holds the largest, the next the rest."""
    sizes = [MIN_GROUP + k for k in range(PAGE_GROUPS + 2)]
    for k, size in enumerate(sizes):
        for _ in range(size):
            queue.register(f"198.51.100.{k + 1}", MINUTE + k, [(SLUG, "skip")])
    queue.sign_in()
    first = queue.queue()
    shown = [len(g["voters"].split()) for g in queue.groups(first)]
    assert shown == sorted(sizes, reverse=True)[:PAGE_GROUPS]
    [more] = [a for a in first.iter("a") if a.get("rel") == "next"]
    second = queue.queue(more.get("href", ""))
    rest = [len(g["voters"].split()) for g in queue.groups(second)]
    assert rest == sorted(sizes, reverse=True)[PAGE_GROUPS:]
    assert not [a for a in second.iter("a") if a.get("rel") == "next"]


def test_bursts_without_a_group_do_not_leave_the_page_empty(queue: Queue) -> None:
    """The largest bursts split their votes (no group); the page weighs further bursts, up to
    SCAN_BURSTS, and shows the smaller groups behind them."""
    for k in range(PAGE_GROUPS):
        for i in range(2 * (MIN_GROUP - 1)):
            queue.register(f"198.51.100.{k + 1}", MINUTE, [(SLUG, "ship" if i % 2 else "skip")])
    for k in range(3):
        for _ in range(MIN_GROUP):
            queue.register(f"203.0.113.{k + 1}", MINUTE, [(SLUG, "ship")])
    queue.sign_in()
    root = queue.queue()
    assert [len(g["voters"].split()) for g in queue.groups(root)] == [MIN_GROUP] * 3
    assert not [a for a in root.iter("a") if a.get("rel") == "next"]
