"""The application service on a real store, once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from domain.application import Ledger
from domain.ballot import Ballot
from domain.errors import (
    ComparisonAlreadyPublished,
    SeatAlreadyPublished,
    ToolAlreadyListed,
    ToolDelisted,
    UnknownBallot,
    UnknownTool,
)
from domain.ids import ballot_id, tool_id
from domain.settings import Settings
from projections.following.rebuild import read_events
from tests.builders import (
    EDITOR,
    DelistedBeforeSave,
    list_tools,
    listing,
    race_a_delisting,
    stored_after_delisting,
)


def test_listing_a_slug_twice_conflicts(ledger: Ledger) -> None:
    """The second listing of a slug collides in the store and is refused."""
    list_tools(ledger, "alpha")
    with pytest.raises(ToolAlreadyListed):
        ledger.list_tool("alpha", listing("alpha"), EDITOR)
    assert ledger.recorder.max_notification_id() == 1


def test_no_vote_or_verdict_on_unknown_or_delisted_tools(ledger: Ledger) -> None:
    """Votes, verdicts and comparisons need a listed tool; refusals write nothing."""
    with pytest.raises(UnknownTool):
        ledger.vote("ghost", "voter:v1", "ship")
    with pytest.raises(UnknownTool):
        ledger.publish_verdict("ghost", "builder", "B", "ship", "t", EDITOR)
    list_tools(ledger, "alpha", "beta")
    ledger.delist_tool("beta", "gone", EDITOR)
    before = ledger.recorder.max_notification_id()
    with pytest.raises(ToolDelisted):
        ledger.vote("beta", "voter:v1", "ship")
    with pytest.raises(ToolDelisted):
        ledger.publish_verdict("beta", "builder", "B", "ship", "t", EDITOR)
    with pytest.raises(ToolDelisted):
        ledger.publish_comparison("alpha", "beta", EDITOR)
    assert ledger.recorder.max_notification_id() == before


def test_a_delisting_between_the_check_and_the_save_refuses_a_verdict(settings: Settings) -> None:
    """Another process delists the tool after the panel found it listed, before the verdict
    is stored: the verdict is refused and nothing is stored after the delisting."""
    ledger = DelistedBeforeSave(settings, "alpha")
    try:
        list_tools(ledger, "alpha")
        with pytest.raises(ToolDelisted):
            ledger.publish_verdict("alpha", "builder", "B", "ship", "t", EDITOR)
        assert stored_after_delisting(ledger.recorder, "alpha") == []
    finally:
        ledger.close()


@pytest.mark.parametrize("delisted", ["alpha", "beta"])
def test_a_delisting_between_the_check_and_the_save_refuses_a_comparison(
    settings: Settings, delisted: str
) -> None:
    """The same race on either tool of a comparison: refused, nothing stored after it."""
    ledger = DelistedBeforeSave(settings, delisted)
    try:
        list_tools(ledger, "alpha", "beta")
        with pytest.raises(ToolDelisted):
            ledger.publish_comparison("alpha", "beta", EDITOR)
        assert stored_after_delisting(ledger.recorder, delisted) == []
    finally:
        ledger.close()


def test_verdicts_and_comparisons_racing_a_delisting_never_land_after_it(
    settings: Settings,
) -> None:
    """Editors publishing verdicts and comparisons in parallel while another process delists
    the tool: whatever was answered is stored before the `Delisted` event, the rest refused."""
    settings = settings.model_copy(update={"panel_seats": [f"seat-{i}" for i in range(40)]})
    ledger = Ledger(settings)
    editor = Ledger(settings)
    try:
        others = [f"other-{i}" for i in range(20)]
        list_tools(ledger, "alpha", *others)

        def publish(i: int) -> str:
            if i % 2:
                return ledger.publish_verdict(
                    "alpha", f"seat-{i}", "B", "ship", "t", EDITOR
                ).outcome
            return ledger.publish_comparison("alpha", others[i // 2], EDITOR).outcome

        _, answers = race_a_delisting(editor, "alpha", publish, attempts=40, together=10, workers=8)
        assert stored_after_delisting(ledger.recorder, "alpha") == []
        assert set(answers) <= {"published", "tool-delisted"}
        written = [
            e
            for e in read_events(ledger.recorder)
            if e.kind in ("Panel.VerdictPublished", "Comparison.Published")
        ]
        assert len(written) == answers.count("published")
    finally:
        editor.close()
        ledger.close()


def test_vote_lifecycle_reports_outcomes_and_positions(ledger: Ledger) -> None:
    """cast → unchanged → changed → retracted → recast, each write at a later position."""
    list_tools(ledger, "alpha")
    cast = ledger.vote("alpha", "voter:v1", "ship")
    same = ledger.vote("alpha", "voter:v1", "ship")
    changed = ledger.vote("alpha", "voter:v1", "skip")
    retracted = ledger.vote("alpha", "voter:v1", None)
    recast = ledger.vote("alpha", "voter:v1", "ship")
    assert [r.outcome for r in (cast, same, changed, retracted, recast)] == [
        "cast",
        "unchanged",
        "changed",
        "retracted",
        "recast",
    ]
    assert same.position is None
    positions = [r.position for r in (cast, changed, retracted, recast)]
    assert positions == sorted(positions) and len(set(positions)) == 4
    with pytest.raises(UnknownBallot):
        ledger.vote("alpha", "voter:nobody", None)


def test_verdicts_and_comparisons_refuse_duplicates(ledger: Ledger) -> None:
    """A seat holds one verdict; a pair of tools one published comparison (either order)."""
    list_tools(ledger, "alpha", "beta")
    ledger.publish_verdict("alpha", "builder", "B", "ship", "good", EDITOR)
    with pytest.raises(SeatAlreadyPublished):
        ledger.publish_verdict("alpha", "builder", "B", "skip", "bad", EDITOR)
    assert ledger.put_verdict("alpha", "builder", "B", "skip", "bad", EDITOR, "why").outcome == (
        "amended"
    )
    ledger.publish_comparison("alpha", "beta", EDITOR)
    with pytest.raises(ComparisonAlreadyPublished):
        ledger.publish_comparison("beta", "alpha", EDITOR)


def test_every_stored_event_names_its_actor_and_round_trips(ledger: Ledger) -> None:
    """Every event has an actor; aggregates reload equal through the orjson transcoder."""
    list_tools(ledger, "alpha", "beta")
    ledger.amend_listing("alpha", {"tagline": "New line"}, "sharper", EDITOR)
    ledger.publish_verdict("alpha", "builder", "B", "ship", "good ✓ 好", EDITOR)
    ledger.retract_verdict("alpha", "builder", "left the panel", EDITOR)
    ledger.vote("alpha", "voter:v1", "skip")
    ledger.publish_comparison("alpha", "beta", EDITOR)
    ledger.withdraw_comparison("alpha", "beta", "stale", EDITOR)
    events = list(read_events(ledger.recorder))
    assert len(events) == 9
    assert all(e.data["actor"] for e in events)
    tool = ledger.repository.get(tool_id("alpha"))
    assert tool.listing["tagline"] == "New line"
    ballot = ledger.repository.get(ballot_id("alpha", "voter:v1"))
    assert isinstance(ballot, Ballot) and ballot.choice == "skip"


def test_stored_json_is_what_the_standard_transcoder_writes(ledger: Ledger) -> None:
    """orjson output decodes to the same tagged JSON the library's own transcoder produces."""
    list_tools(ledger, "alpha")
    [notification] = ledger.recorder.select_notifications(1, 1)
    state = orjson.loads(notification.state)
    assert state["timestamp"]["_type_"] == "datetime_iso"
    assert state["tool"] == "alpha"


def test_200_concurrent_casts_by_one_voter_store_one_ballot(ledger: Ledger) -> None:
    """One voter hammering one tool from 200 threads ends with exactly one ballot created."""
    list_tools(ledger, "alpha")
    with ThreadPoolExecutor(max_workers=32) as pool:
        receipts = list(pool.map(lambda _: ledger.vote("alpha", "voter:v1", "ship"), range(200)))
    events = [e for e in read_events(ledger.recorder) if e.kind.startswith("Ballot.")]
    assert [e.kind for e in events] == ["Ballot.Cast"]
    assert sum(r.outcome == "cast" for r in receipts) == 1
    assert sum(r.outcome == "unchanged" for r in receipts) == 199


def test_200_voters_in_parallel_are_all_counted(ledger: Ledger) -> None:
    """200 different voters at once: 200 ballots, none lost, none doubled."""
    list_tools(ledger, "alpha")
    choices = ["ship" if i % 3 else "skip" for i in range(200)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda i: ledger.vote("alpha", f"voter:{i}", choices[i]), range(200)))
    casts = [e for e in read_events(ledger.recorder) if e.kind == "Ballot.Cast"]
    assert len(casts) == 200
    assert len({e.originator_id for e in casts}) == 200
    assert sum(e.data["choice"] == "ship" for e in casts) == choices.count("ship")


def test_two_processes_worth_of_apps_share_one_store(settings: Settings) -> None:
    """A second Ledger on the same store sees and respects the first one's ballots."""
    first, second = Ledger(settings), Ledger(settings)
    try:
        list_tools(first, "alpha")
        assert first.vote("alpha", "voter:v1", "ship").outcome == "cast"
        assert second.vote("alpha", "voter:v1", "skip").outcome == "changed"
    finally:
        first.close()
        second.close()
