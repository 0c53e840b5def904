"""Score pages of tools with many ballots, many `view_tool_points` rows each, on SQLite and
PostgreSQL: page by page at small ballot budgets, and from any cursor, each page is exactly
(byte for byte) what the whole tool's fold gives; and a page that continues a tool reads its
points from the row holding the cursor's leaf on, however many points came before."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import Ledger
from projections.catalog.score_pages import WHOLE, Cursor, ScorePage, score_page
from projections.catalog.tails import POINTS_PER_ROW
from projections.catalog.views import CATALOG, CatalogProjection, ViewStore
from projections.database import Database
from projections.following.follower import Follower
from tests.builders import EDITOR, list_tools
from tests.projections.catalog.test_score_pages import per_tool

SLUGS = ("alpha", "beta", "delta", "gamma", "omega")
MODERATOR = "moderator:mo"
BALLOT_EVENTS = 260
"""On alpha and beta, some 100 points each: four to five rows of POINTS_PER_ROW."""


def build(ledger: Ledger) -> ViewStore:
    """Five tools, alpha and beta with many ballots; verdicts published, amended and retracted
    between ballots; ballots cast, changed, retracted, voided and restored; one tool listed
    late; one delisted; every view folded."""
    rng = random.Random(29)
    list_tools(ledger, *SLUGS[:4])
    held: dict[tuple[str, str], str] = {}
    voided: set[tuple[str, str]] = set()
    seats: dict[str, set[str]] = {s: set() for s in SLUGS}
    for i in range(BALLOT_EVENTS):
        slug = rng.choice(("alpha", "alpha", "beta", "beta", "gamma"))
        roll = rng.random()
        if roll < 0.05:
            seat = rng.choice(("builder", "skeptic", "buyer"))
            decision = rng.choice(("ship", "skip"))
            if seat not in seats[slug]:
                ledger.publish_verdict(slug, seat, "R", decision, "text", EDITOR)
                seats[slug].add(seat)
            elif rng.random() < 0.5:
                ledger.amend_verdict(slug, seat, "R", decision, "more", "second look", EDITOR)
            else:
                ledger.retract_verdict(slug, seat, "withdrawn", EDITOR)
                seats[slug].discard(seat)
            continue
        if roll < 0.09:
            live = sorted(k for k in held if k[0] == slug and k not in voided)
            if live:
                _, voter = rng.choice(live)
                ledger.void_ballots(slug, [voter], "a sock puppet", "one-person", MODERATOR)
                voided.add((slug, voter))
                continue
        if roll < 0.12:
            gone = sorted(k for k in voided if k[0] == slug)
            if gone:
                _, voter = rng.choice(gone)
                ledger.restore_ballots(slug, [voter], "appeal upheld", "one-person", MODERATOR)
                voided.discard((slug, voter))
                continue
        voter = f"v{rng.randrange(70)}"
        if (slug, voter) in voided:
            continue
        choice = rng.choice(("ship", "skip", None)) if (slug, voter) in held else "ship"
        ledger.vote(slug, f"voter:{voter}", choice)
        if choice is None:
            held.pop((slug, voter), None)
        else:
            held[(slug, voter)] = choice
        if i == BALLOT_EVENTS // 2:
            ledger.delist_tool("delta", "gone", EDITOR)
            list_tools(ledger, "omega")
            ledger.vote("omega", "voter:v1", "skip")
    store = ViewStore(ledger.recorder)
    store.create_tables()
    Follower(ledger.recorder, CatalogProjection(store)).catch_up()
    return store


@pytest.fixture
def views(ledger: Ledger) -> ViewStore:
    return build(ledger)


def expected_page(
    entries: list[dict[str, Any]], after: Cursor | None, limit: int, budget: int
) -> ScorePage:
    """The page the whole tools' entries give, by score_pages' docstring: tools in slug order
    after the cursor, the cursor's own tool resumed past its leaf; `limit` tools or `budget`
    ballots and voids at most (one ballot at least); a tool's voids on its first part only."""
    page: list[dict[str, Any]] = []
    room = budget
    for whole in entries:
        slug = whole["tool"]
        passed = after is not None and (slug, after.leaf != WHOLE) < (after.slug, True)
        if passed:  # before the cursor's tool, or that tool when the cursor is past it whole
            continue
        if len(page) == limit or (room <= 0 and page):
            return ScorePage(page, Cursor(page[-1]["tool"], WHOLE))
        resume = after.leaf if after is not None and slug == after.slug else WHOLE
        entry: dict[str, Any] = orjson.loads(orjson.dumps(whole))
        community = entry["score"]["community"]
        ballots = [b for b in community["ballots"] if b["leaf_index"] > resume]
        if resume != WHOLE:
            community["voids"] = []
        fits = max(1, room - len(community["voids"]))
        community["ballots"] = ballots[:fits]
        page.append(entry)
        if len(ballots) > fits:
            return ScorePage(page, Cursor(slug, ballots[fits - 1]["leaf_index"]))
        room -= len(community["ballots"]) + len(community["voids"])
    return ScorePage(page, None)


def same(found: ScorePage, expected: ScorePage) -> bool:
    return orjson.dumps(found.tools) == orjson.dumps(expected.tools) and found.next == (
        expected.next
    )


@given(data=st.data())
@settings(max_examples=30)
def test_pages_of_long_tools_are_the_whole_tools_pages(
    views: ViewStore, data: st.DataObject
) -> None:
    """Paged at small budgets, every page is byte for byte the page of the whole tools' folds,
    so a tool split over many pages is cut and resumed as a whole-tool read would."""
    end = views.tracking.tracked(CATALOG)[1]
    size = data.draw(st.integers(1, end), label="size")
    limit = data.draw(st.integers(1, 6), label="limit")
    budget = data.draw(st.integers(1, 30), label="budget")
    entries = per_tool(views, size)
    after: Cursor | None = None
    for _ in range(10_000):
        page = score_page(views.db, size, after, limit, budget)
        assert same(page, expected_page(entries, after, limit, budget)), (after, page.next)
        if page.next is None:
            return
        after = page.next
    raise AssertionError("the pages never end")


@given(data=st.data())
@settings(max_examples=40)
def test_a_page_from_any_cursor_is_the_whole_tools_page(
    views: ViewStore, data: st.DataObject
) -> None:
    """Cursors are not signed: one with any leaf (a ballot's or not, before a tool's first
    point or past its last) starts the page where the whole tools' page from it starts."""
    end = views.tracking.tracked(CATALOG)[1]
    size = data.draw(st.integers(1, end), label="size")
    slug = data.draw(st.sampled_from(SLUGS), label="slug")
    leaf = data.draw(st.integers(0, end + 2) | st.just(WHOLE), label="leaf")
    limit = data.draw(st.integers(1, 4), label="limit")
    budget = data.draw(st.integers(1, 60), label="budget")
    after = Cursor(slug, leaf)
    page = score_page(views.db, size, after, limit, budget)
    assert same(page, expected_page(per_tool(views, size), after, limit, budget))


class Reads:
    """The rows a Database's read transactions fetch, by the table the statement reads."""

    def __init__(self, db: Database) -> None:
        self.points = 0
        self.statements: list[str] = []
        real = db.transaction

        @contextmanager
        def counted(*, commit: bool) -> Iterator[Any]:
            with real(commit=commit) as cursor:
                yield _Counting(cursor, self)

        db.transaction = counted  # type: ignore[method-assign]  # a spy, for this test's db


class _Counting:
    def __init__(self, cursor: Any, reads: Reads) -> None:
        self.cursor, self.reads, self.statement = cursor, reads, ""

    def execute(self, statement: str, params: Any = ()) -> Any:
        self.statement = statement
        self.reads.statements.append(statement)
        return self.cursor.execute(statement, params)

    def fetchall(self) -> list[Any]:
        rows: list[Any] = self.cursor.fetchall()
        if "view_tool_points" in self.statement:
            self.reads.points += len(rows)
        return rows

    def fetchone(self) -> Any:
        row = self.cursor.fetchone()
        if row is not None and "view_tool_points" in self.statement:
            self.reads.points += 1
        return row


def test_a_continuation_reads_from_the_cursors_row_on(ledger: Ledger) -> None:
    """One tool of 10 rows' worth of ballots, paged one ballot at a time at its full size: each
    continuation page reads the row holding the first leaf past its cursor's and the rows
    after it, never the rows before, so the rows it reads fall as the cursor moves on (the old
    code re-read every row from the tool's first point). The pages still join into the whole
    tool's ballots."""
    list_tools(ledger, "alpha")
    for i in range(10 * POINTS_PER_ROW - 1):  # with the listing, 10 full rows
        ledger.vote("alpha", f"voter:{i}", "ship")
    views = ViewStore(ledger.recorder)
    views.create_tables()
    Follower(ledger.recorder, CatalogProjection(views)).catch_up()
    size = views.tracking.tracked(CATALOG)[1]
    whole = per_tool(views, size)
    reads = Reads(views.db)
    after: Cursor | None = None
    found: list[tuple[int, int]] = []  # (cursor's leaf, point rows read)
    ballots: list[dict[str, Any]] = []
    while True:
        reads.points = 0
        page = score_page(views.db, size, after, 100, 1)
        assert same(page, expected_page(whole, after, 100, 1))
        ballots += page.tools[0]["score"]["community"]["ballots"]
        found.append((WHOLE if after is None else after.leaf, reads.points))
        if page.next is None:
            break
        after = page.next
    assert ballots == whole[0]["score"]["community"]["ballots"]
    rows = 10
    assert found[0] == (WHOLE, rows), "a tool's first part folds it whole"
    for leaf, read in found[1:]:
        holding = (leaf + 1) // POINTS_PER_ROW  # the row of the leaf after it (0-based)
        assert read == rows - holding, (leaf, read)
