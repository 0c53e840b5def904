"""One vote use case for every entrance (api/voting/votes.py): the page form answers as the API
route does for the same votes, with the same stored events (but the surface each first vote
records) and the same kinds of refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx import Response

from api.site.pages import VOTER_COOKIE
from domain.settings import Settings
from projections.following.rebuild import read_events
from tests.api.site.markup import assert_valid_html
from tests.api.site.test_pages import Site, seeded_site

STEPS = [
    ("smollm3", "ship"),
    ("smollm3", "ship"),
    ("smollm3", "skip"),
    ("smollm3", "retract"),
    ("smollm3", "retract"),
    ("smollm3", "ship"),
    ("ghost", "ship"),
    ("smolvlm2-turbo", "skip"),
    ("smollm3", "maybe"),
    ("Not A Slug", "ship"),
]
"""After a first vote (so both voters exist): change, no change, retract, nothing to retract,
recast, an unknown tool, a delisted tool (delisted before the steps), a bad choice, a bad slug."""
EXPECTED = [
    "stored",
    "unchanged",
    "stored",
    "stored",
    "refused 404 unknown-ballot",
    "stored",
    "refused 404 unknown-tool",
    "refused 409 tool-delisted",
    "refused 422 invalid-input",
    "refused 422 invalid-input",
]


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    yield from seeded_site(settings)


def by_route(site: Site, token: str, slug: str, choice: str) -> str:
    """One vote through the API route (a JSON body the vote lane leaves to the route would
    answer the same: tests/api/voting/test_lane.py)."""
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/v1/tools/{slug}/vote"
    if choice == "retract":
        answer = site.client.delete(path, headers=headers)
    else:
        answer = site.client.put(path, json={"choice": choice}, headers=headers)
    if answer.status_code < 300:
        return "unchanged" if answer.json()["receipt"]["position"] is None else "stored"
    problem: dict[str, Any] = answer.json()
    return f"refused {answer.status_code} {problem['type'].rpartition('/')[2]}"


def by_form(site: Site, slug: str, choice: str) -> str:
    """One vote through the page form, read the same way: stored, unchanged or the refusal."""
    answer: Response = site.vote(slug, choice)
    if answer.status_code == 303:
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        return "stored" if "min_position" in query else "unchanged"
    root = assert_valid_html(answer.text)
    notice = next(e for e in root.iter("p") if e.get("role") == "alert")
    return f"refused {answer.status_code} {notice.get('data-problem')}"


def ballot_events(site: Site, voter: str) -> list[tuple[str, str, str | None]]:
    return [
        (e.kind, e.data["tool"], e.data.get("choice"))
        for e in read_events(site.ledger.recorder)
        if e.kind.startswith("Ballot.") and e.data["actor"] == voter
    ]


def form_voter(site: Site) -> str:
    return "voter:" + (site.client.cookies.get(VOTER_COOKIE) or "").partition(".")[0]


def test_the_form_answers_and_stores_as_the_route_does(site: Site) -> None:
    """The same votes through the route and through the form: the same outcome or refusal
    (status and problem type) at each step, and the same ballot events stored for each voter."""
    site.ledger.delist_tool("smolvlm2-turbo", "gone", "editor:ann")
    token = site.client.post("/v1/voters").json()["token"]
    route = [by_route(site, token, slug, choice) for slug, choice in STEPS]
    form = [by_form(site, slug, choice) for slug, choice in STEPS]
    assert route == EXPECTED
    assert form == route
    routed = ballot_events(site, "voter:" + token.partition(".")[0])
    assert routed == ballot_events(site, form_voter(site))
    assert [kind for kind, *_ in routed] == [
        "Ballot.Cast",
        "Ballot.Changed",
        "Ballot.Retracted",
        "Ballot.Recast",
    ]
    assert first_surface(site, "voter:" + token.partition(".")[0]) == "api"
    assert first_surface(site, form_voter(site)) == "page"


def first_surface(site: Site, voter: str) -> str | None:
    """The surface a voter's first vote on smollm3 recorded (Ballot.Cast v2)."""
    return next(
        e.data["surface"]
        for e in read_events(site.ledger.recorder)
        if e.kind == "Ballot.Cast" and e.data["actor"] == voter and e.data["tool"] == "smollm3"
    )


def test_a_visitor_without_an_identity_has_nothing_to_retract(site: Site) -> None:
    """A first "retract" from the form is the route's refusal for a voter without a ballot,
    and it registers nobody."""
    token = site.client.post("/v1/voters").json()["token"]
    before = site.log_end()
    assert by_route(site, token, "smollm3", "retract") == "refused 404 unknown-ballot"
    assert by_form(site, "smollm3", "retract") == "refused 404 unknown-ballot"
    assert site.client.cookies.get(VOTER_COOKIE) is None
    assert site.log_end() == before


def test_both_entrances_share_the_vote_and_registration_limits(settings: Settings) -> None:
    """One vote a minute per voter, one registration a minute per address: the second vote
    is rate limited through either entrance, and so is a form visitor's registration once the
    API registered a voter for the same address; nothing refused is stored."""
    limited = settings.model_copy(
        update={"votes_per_minute": 1, "voter_registrations_per_minute": 1}
    )
    for site in seeded_site(limited):
        token = site.client.post("/v1/voters").json()["token"]
        route = [by_route(site, token, "smollm3", choice) for choice in ("ship", "skip")]
        assert route == ["stored", "refused 429 rate-limited"]
        before = site.log_end()
        assert by_form(site, "smollm3", "ship") == "refused 429 rate-limited"
        assert site.client.cookies.get(VOTER_COOKIE) is None
        assert site.log_end() == before

    for site in seeded_site(settings.model_copy(update={"votes_per_minute": 1})):
        form = [by_form(site, "smollm3", choice) for choice in ("ship", "skip")]
        assert form == ["stored", "refused 429 rate-limited"]
        assert [kind for kind, *_ in ballot_events(site, form_voter(site))] == ["Ballot.Cast"]
