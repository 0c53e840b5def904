"""Group commit on a real store (SQLite and PostgreSQL): a batch of votes is one transaction with
the semantics of single writes; a conflict inside a batch fails none of the others."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import Ledger
from domain.ballot import Ballot
from domain.errors import LedgerError, ToolDelisted, UnknownBallot, UnknownTool
from domain.ids import ballot_id, tool_id
from domain.persistence.group_commit import Vote, _Vote
from domain.settings import Settings
from domain.tool import Tool
from projections.following.rebuild import read_events
from tests.builders import (
    EDITOR,
    DelistedBeforeSave,
    list_tools,
    race_a_delisting,
    stored_after_delisting,
    stored_ballot,
)


class RacedLedger(Ledger):
    """A ledger whose first look-up of voter `racer` is overtaken by another process's vote:
    it sees no ballot, while the store already holds one (a real conflict on save)."""

    name = "Ledger"  # the store's tables are named after the application
    rival: Ledger

    def _find_ballot(self, slug: str, voter: str) -> Ballot | None:
        if voter == "voter:racer" and not getattr(self, "raced", False):
            self.raced = True
            self.rival.vote(slug, voter, "skip")
            return None
        return super()._find_ballot(slug, voter)

    def _load_aggregates(self, ids: Collection[UUID], known: Mapping[UUID, Any]) -> dict[UUID, Any]:
        """The group commit reads a batch's ballots in one query: the same race, there."""
        racer = ballot_id("alpha", "voter:racer")
        found = super()._load_aggregates(ids, known)
        if racer in ids and not getattr(self, "raced", False):
            self.raced = True
            self.rival.vote("alpha", "voter:racer", "skip")
            found.pop(racer, None)
        return found


@pytest.fixture
def raced(settings: Settings) -> Iterator[RacedLedger]:
    ledger = RacedLedger(settings)
    ledger.rival = Ledger(settings.model_copy(update={"group_commit": False}))
    yield ledger
    ledger.rival.close()
    ledger.close()


def commit(ledger: Ledger, *votes: tuple[str, str, str | None]) -> list[_Vote]:
    """Run one batch through the writer, as the writer thread would."""
    assert ledger.ballots is not None
    batch = [_Vote(Vote(slug, voter, choice)) for slug, voter, choice in votes]
    ledger.ballots._commit(batch)
    return batch


def test_votes_on_one_ballot_in_one_batch_apply_in_order(ledger: Ledger) -> None:
    """cast, change, retract, recast in one batch: four events, four outcomes, one save."""
    list_tools(ledger, "alpha")
    before = ledger.recorder.max_notification_id() or 0
    batch = commit(
        ledger,
        ("alpha", "voter:v", "ship"),
        ("alpha", "voter:v", "skip"),
        ("alpha", "voter:v", None),
        ("alpha", "voter:v", "ship"),
        ("alpha", "voter:v", "ship"),
    )
    receipts = [vote.done.result(timeout=5) for vote in batch]
    assert [r.outcome for r in receipts] == [
        "cast",
        "changed",
        "retracted",
        "recast",
        "unchanged",
    ]
    positions = [r.position for r in receipts]
    assert positions[:4] == [before + 1, before + 2, before + 3, before + 4]
    assert positions[4] is None
    kinds = [e.kind for e in read_events(ledger.recorder, before)]
    assert kinds == ["Ballot.Cast", "Ballot.Changed", "Ballot.Retracted", "Ballot.Recast"]


def test_refused_votes_fail_alone(ledger: Ledger) -> None:
    """An unknown tool and a retraction without a ballot are refused; the rest is stored."""
    list_tools(ledger, "alpha")
    batch = commit(
        ledger,
        ("ghost", "voter:a", "ship"),
        ("alpha", "voter:a", "ship"),
        ("alpha", "voter:b", None),
        ("alpha", "voter:b", "skip"),
    )
    with pytest.raises(UnknownTool):
        batch[0].done.result(timeout=5)
    with pytest.raises(UnknownBallot):
        batch[2].done.result(timeout=5)
    assert [batch[i].done.result(timeout=5).outcome for i in (1, 3)] == ["cast", "cast"]
    casts = [e for e in read_events(ledger.recorder) if e.kind == "Ballot.Cast"]
    assert sorted(e.data["actor"] for e in casts) == ["voter:a", "voter:b"]


def test_a_conflict_in_a_batch_fails_none_of_the_others(raced: RacedLedger) -> None:
    """Another process writes one ballot of the batch first: the save conflicts, every vote is
    then written alone, and each voter's ballot is stored exactly once."""
    list_tools(raced, "alpha")
    batch = commit(
        raced,
        ("alpha", "voter:a", "ship"),
        ("alpha", "voter:racer", "ship"),
        ("alpha", "voter:b", "skip"),
    )
    outcomes = [vote.done.result(timeout=5).outcome for vote in batch]
    assert outcomes == ["cast", "changed", "cast"]
    ballots = [e for e in read_events(raced.recorder) if e.kind.startswith("Ballot.")]
    assert sorted((e.data["actor"], e.kind) for e in ballots) == [
        ("voter:a", "Ballot.Cast"),
        ("voter:b", "Ballot.Cast"),
        ("voter:racer", "Ballot.Cast"),
        ("voter:racer", "Ballot.Changed"),
    ]
    racer = stored_ballot(raced, "alpha", "voter:racer")
    assert racer is not None and racer.choice == "ship"


def outcomes(batch: list[_Vote]) -> list[str]:
    """Each vote's outcome, or the type slug of its refusal."""
    found = []
    for vote in batch:
        error = vote.done.exception(timeout=5)
        found.append(error.type if isinstance(error, LedgerError) else vote.done.result().outcome)
    return found


def test_a_delisting_elsewhere_refuses_the_very_next_batch(settings: Settings) -> None:
    """The writer keeps what it knows of tools between batches, but another process's
    amendment or delisting counts from the next batch on: no vote lands on a delisted tool."""
    ledger = Ledger(settings)
    other = Ledger(settings.model_copy(update={"group_commit": False}))
    try:
        list_tools(ledger, "alpha", "beta")
        assert outcomes(commit(ledger, ("alpha", "voter:a", "ship"))) == ["cast"]
        other.amend_listing("alpha", {"tagline": "Renamed"}, "tests", EDITOR)
        assert outcomes(commit(ledger, ("alpha", "voter:b", "ship"))) == ["cast"]
        other.delist_tool("alpha", "gone", EDITOR)
        batch = commit(ledger, ("alpha", "voter:c", "ship"), ("beta", "voter:c", "skip"))
        assert outcomes(batch) == ["tool-delisted", "cast"]
        with pytest.raises(ToolDelisted):
            batch[0].done.result(timeout=5)
        list_tools(other, "gamma")
        assert outcomes(commit(ledger, ("gamma", "voter:a", "ship"))) == ["cast"]
    finally:
        other.close()
        ledger.close()


def test_a_delisting_between_the_check_and_the_save_refuses_the_batch(settings: Settings) -> None:
    """Another process delists a tool after the writer found it listed and before its save:
    the votes on it are refused, none is stored after the delisting, the others are stored."""
    ledger = DelistedBeforeSave(settings, "alpha")
    try:
        list_tools(ledger, "alpha", "beta")
        batch = commit(
            ledger,
            ("alpha", "voter:a", "ship"),
            ("beta", "voter:a", "skip"),
            ("alpha", "voter:b", "ship"),
        )
        assert outcomes(batch) == ["tool-delisted", "cast", "tool-delisted"]
        assert stored_after_delisting(ledger.recorder, "alpha") == []
        assert stored_ballot(ledger, "alpha", "voter:a") is None
    finally:
        ledger.close()


def test_a_delisting_between_the_check_and_the_save_refuses_a_single_write(
    settings: Settings,
) -> None:
    """The same race without group commit: the one vote is refused and nothing is stored."""
    ledger = DelistedBeforeSave(settings.model_copy(update={"group_commit": False}), "alpha")
    try:
        list_tools(ledger, "alpha")
        with pytest.raises(ToolDelisted):
            ledger.vote("alpha", "voter:a", "ship")
        assert stored_after_delisting(ledger.recorder, "alpha") == []
    finally:
        ledger.close()


@contextmanager
def delisting_held_open(ledger: Ledger, settings: Settings, slug: str) -> Iterator[None]:
    """Another process's delisting of `slug`, stored but not committed, holding the store's
    write lock (on PostgreSQL the EXCLUSIVE table lock eventsourcing takes), until the block
    ends; it commits then."""
    tool: Tool = ledger.repository.get(tool_id(slug))
    tool.delist("gone", EDITOR)
    stored = ledger.mapper.to_stored_event(tool.collect_events()[0])
    table = ledger.recorder.events_table_name  # type: ignore[attr-defined]  # both recorders
    row = (stored.originator_id, stored.originator_version, stored.topic, stored.state)
    if settings.is_postgres:
        with psycopg.connect(settings.database_url) as editor:
            editor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            editor.execute(
                f"INSERT INTO {table} (originator_id, originator_version, topic, state) "  # noqa: S608 - the recorder's table name
                "VALUES (%s, %s, %s, %s)",
                row,
            )
            yield
    else:
        editor = sqlite3.connect(settings.sqlite_path, isolation_level=None)
        try:
            editor.execute("BEGIN IMMEDIATE")
            insert = f"INSERT INTO {table} VALUES (?, ?, ?, ?)"  # noqa: S608 - the recorder's table name
            editor.execute(insert, (row[0].hex, *row[1:]))
            yield
            editor.execute("COMMIT")
        finally:
            editor.close()


def wait_for_a_blocked_writer(settings: Settings) -> None:
    """Until another connection waits for the write lock (PostgreSQL shows it in pg_locks;
    SQLite does not, so there a pause lets the writer reach the lock)."""
    if not settings.is_postgres:
        time.sleep(0.5)
        return
    with psycopg.connect(settings.database_url, autocommit=True) as watcher:
        for _ in range(500):
            row = watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
            if row and row[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the vote never waited for the write lock")


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "single-writes"])
def test_a_vote_saved_while_a_delisting_commits_is_refused(
    settings: Settings, group_commit: bool
) -> None:
    """The vote finds the tool listed, then waits for the write lock that a delisting being
    committed holds: once it has the lock it must see the delisting (on PostgreSQL, under READ
    COMMITTED, only a read after taking the lock does) and refuse, storing nothing after it."""
    ledger = Ledger(settings.model_copy(update={"group_commit": group_commit}))
    try:
        list_tools(ledger, "alpha")
        with ThreadPoolExecutor(max_workers=1) as pool:
            with delisting_held_open(ledger, settings, "alpha"):
                voting = pool.submit(ledger.vote, "alpha", "voter:a", "ship")
                wait_for_a_blocked_writer(settings)
                assert not voting.done()
            with pytest.raises(ToolDelisted):
                voting.result(timeout=30)
        assert stored_after_delisting(ledger.recorder, "alpha") == []
    finally:
        ledger.close()


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "single-writes"])
def test_300_voters_racing_a_delisting_never_land_after_it(
    settings: Settings, group_commit: bool
) -> None:
    """300 voters in parallel while an editor of another process delists the tool: every vote
    answered is stored before the `Delisted` event, every later one is refused, none after."""
    ledger = Ledger(settings.model_copy(update={"group_commit": group_commit}))
    editor = Ledger(settings.model_copy(update={"group_commit": False}))
    try:
        list_tools(ledger, "alpha")
        delisted, answers = race_a_delisting(
            editor,
            "alpha",
            lambda i: ledger.vote("alpha", f"voter:{i}", "ship").position or 0,
            attempts=300,
            together=100,
            workers=32,
        )
        accepted = [a for a in answers if isinstance(a, int)]
        assert all(position < delisted for position in accepted)
        assert stored_after_delisting(ledger.recorder, "alpha") == []
        casts = [e for e in read_events(ledger.recorder) if e.kind == "Ballot.Cast"]
        assert len(casts) == len(accepted)
        assert answers.count("tool-delisted") == 300 - len(accepted)
    finally:
        editor.close()
        ledger.close()


def test_ballots_changed_elsewhere_are_read_afresh(settings: Settings) -> None:
    """A ballot another process changed between two batches is decided on what it holds now."""
    ledger = Ledger(settings)
    other = Ledger(settings.model_copy(update={"group_commit": False}))
    try:
        list_tools(ledger, "alpha")
        assert outcomes(commit(ledger, ("alpha", "voter:a", "ship"))) == ["cast"]
        other.vote("alpha", "voter:a", "skip")
        assert outcomes(commit(ledger, ("alpha", "voter:a", "skip"))) == ["unchanged"]
        other.vote("alpha", "voter:a", None)
        batch = commit(ledger, ("alpha", "voter:a", None), ("alpha", "voter:a", "ship"))
        assert outcomes(batch) == ["unknown-ballot", "recast"]
    finally:
        other.close()
        ledger.close()


Step = tuple[str, str, str | None]
"""(tool, voter, choice; None retracts)"""
steps = st.lists(
    st.tuples(
        st.sampled_from(("alpha", "beta", "ghost")),
        st.sampled_from(("a", "b", "c")),
        st.sampled_from(("ship", "skip", None)),
    ),
    max_size=12,
)
elsewhere_votes = st.lists(
    st.tuples(
        st.sampled_from(("alpha", "beta")),
        st.sampled_from(("a", "b", "c")),
        st.sampled_from(("ship", "skip")),
    ),
    max_size=4,
)


def expected_outcomes(batches: list[list[Step]], elsewhere: list[Step]) -> list[list[str]]:
    """What single writes in arrival order answer (the reference the batches must equal);
    the i-th `elsewhere` vote is written by another process just before the i-th batch."""
    choices: dict[tuple[str, str], str | None] = {}
    answers = []
    for i, batch in enumerate(batches):
        for tool, voter, choice in elsewhere[i : i + 1]:
            _apply(choices, tool, voter, choice)
        answers.append([_apply(choices, tool, voter, choice) for tool, voter, choice in batch])
    return answers


def _apply(
    choices: dict[tuple[str, str], str | None], tool: str, voter: str, choice: str | None
) -> str:
    """One vote on the reference model; its outcome (or refusal type)."""
    if tool == "ghost":
        return "unknown-tool"
    key = (tool, voter)
    held = choices.get(key, "absent")
    if choice is None:
        if held in ("absent", None):
            return "unknown-ballot"
        choices[key] = None
        return "retracted"
    choices[key] = choice
    if held == "absent":
        return "cast"
    if held is None:
        return "recast"
    return "unchanged" if held == choice else "changed"


@settings(max_examples=40)
@given(batches=st.lists(steps, min_size=1, max_size=4), elsewhere=elsewhere_votes)
def test_batches_answer_as_single_writes_do(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[Step]], elsewhere: list[Step]
) -> None:
    """Any votes, split into any batches, with another process voting between them: every
    outcome is what one write after another would give, and the store holds the same choices."""
    folder = tmp_path_factory.mktemp("batches")
    settings = Settings(database_url=f"sqlite:///{folder}/ledger.db")
    ledger = Ledger(settings)
    other = Ledger(settings.model_copy(update={"group_commit": False}))
    try:
        list_tools(ledger, "alpha", "beta")
        found = []
        for i, batch in enumerate(batches):
            for tool, voter, choice in elsewhere[i : i + 1]:
                other.vote(tool, f"voter:{voter}", choice or "ship")
            votes = [(tool, f"voter:{voter}", choice) for tool, voter, choice in batch]
            found.append(outcomes(commit(ledger, *votes)))
        assert found == expected_outcomes(batches, elsewhere)
        model: dict[tuple[str, str], str | None] = {}
        for i, batch in enumerate(batches):
            for step in [*elsewhere[i : i + 1], *batch]:
                _apply(model, *step)
        for (tool, voter), choice in model.items():
            stored = stored_ballot(ledger, tool, f"voter:{voter}")
            assert stored is not None and stored.choice == choice
    finally:
        other.close()
        ledger.close()


def test_votes_awaited_in_an_event_loop_get_their_own_answers(ledger: Ledger) -> None:
    """Coroutines awaiting votes (the HTTP path) get each its outcome or refusal, handed to the
    loop a batch at a time; a caller that stopped waiting does not unsettle the others, and
    its vote, already queued, is stored all the same."""
    list_tools(ledger, "alpha")

    async def vote_all() -> list[str]:
        waiting = [ledger.vote_in_loop("alpha", f"voter:{i}", "ship") for i in range(20)]
        refused = ledger.vote_in_loop("ghost", "voter:x", "ship")
        gone = ledger.vote_in_loop("alpha", "voter:gone", "skip")
        gone.cancel()
        after = ledger.vote_in_loop("alpha", "voter:after", "ship")  # written after "gone"
        answers = await asyncio.gather(*waiting, after)
        with pytest.raises(UnknownTool):
            await refused
        return [answer.outcome for answer in answers]

    assert asyncio.run(vote_all()) == ["cast"] * 21
    stored = stored_ballot(ledger, "alpha", "voter:gone")
    assert stored is not None and stored.choice == "skip"
