"""Moderation on a real store, once on SQLite and once on PostgreSQL: a request is all or
nothing, and votes racing a void are either stored before it or refused, never after it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from domain.application import Ledger
from domain.errors import BallotVoided, InvalidInput, UnknownBallot
from projections.catalog.fold import fold_catalog
from projections.following.rebuild import read_events
from tests.builders import list_tools

MODERATOR = "moderator:mo"


def test_one_refused_ballot_refuses_the_whole_request(ledger: Ledger) -> None:
    """Given two ballots and an unknown voter, a void of all three writes nothing and names
    the voter at fault; bounds and duplicates are refused before anything is read."""
    list_tools(ledger, "alpha")
    for voter in ("v_a", "v_b"):
        ledger.vote("alpha", f"voter:{voter}", "ship")
    before = ledger.recorder.max_notification_id()
    with pytest.raises(UnknownBallot) as unknown:
        ledger.void_ballots("alpha", ["v_a", "v_b", "v_c"], "stuffing", "rule", MODERATOR)
    assert unknown.value.field == "voters[2]"
    for voters, field in (
        ([], "voters"),
        (["v_a"] * 1001, "voters"),
        (["v_a", "v_a"], "voters[1]"),
    ):
        with pytest.raises(InvalidInput) as invalid:
            ledger.void_ballots("alpha", voters, "stuffing", "rule", MODERATOR)
        assert invalid.value.field == field
    with pytest.raises(InvalidInput) as no_rule:
        ledger.void_ballots("alpha", ["v_a"], "stuffing", " ", MODERATOR)
    assert no_rule.value.field == "rule"
    assert ledger.recorder.max_notification_id() == before


def test_votes_racing_a_void_land_before_it_or_are_refused(ledger: Ledger) -> None:
    """40 voters keep changing their votes while a moderator voids all 40: after each
    ballot's Voided event no vote of its voter is stored, and the fold counts 40 voided, 0 left."""
    list_tools(ledger, "alpha")
    voters = [f"v_{i}" for i in range(40)]
    for voter in voters:
        ledger.vote("alpha", f"voter:{voter}", "ship")
    started = threading.Barrier(2)
    refused: list[int] = []

    def vote(i: int) -> None:
        if i == 0:
            started.wait(timeout=10)
        try:
            ledger.vote("alpha", f"voter:{voters[i % 40]}", "skip" if i % 80 < 40 else "ship")
        except BallotVoided:
            refused.append(i)

    with ThreadPoolExecutor(max_workers=8) as pool:
        votes = [pool.submit(vote, i) for i in range(400)]
        started.wait(timeout=10)
        receipt = ledger.void_ballots("alpha", voters, "stuffing", "rule", MODERATOR)
        for future in votes:
            future.result(timeout=60)
    assert len(receipt.events) == 40
    events = list(read_events(ledger.recorder))
    voided_at: dict[str, int] = {}
    for event in events:
        if event.kind == "Ballot.Voided":
            voided_at[event.data["voter"]] = event.position
        elif event.kind.startswith("Ballot.") and event.data["actor"] in voided_at:
            raise AssertionError(f"a vote stored after its ballot was voided: {event}")
    assert len(voided_at) == 40
    community = fold_catalog(events).tools["alpha"].document()["community"]
    assert (community["total"], community["voided"]) == (0, 40)
    with pytest.raises(BallotVoided):
        ledger.vote("alpha", "voter:v_0", "ship")
