"""What an auditor compares with its replay, for a page of tools at one log size: each tool's
status and panel as its document stood then, and its score proof (the fold of
projections/catalog/score_proof.py). One request per page of tools instead of two per tool.

Tools come in slug order. A page ends after `limit` tools or once its ballots and voids fill
`max_ballots`; a tool with more ballots than a page holds continues on the next page (its entry
again, with the ballots that follow). A page holds at most `max_ballots` ballots (one at least,
so the pages always move on). A tool's voids all come on its first part: a page holds more than
`max_ballots` ballots and voids together only when its last tool brings more voids than the
room left, and then with one ballot of it at most; so an answer stays under 200 KB unless a tool
has thousands of voids. A page reads its own tools' rows only, in one read transaction; a page
that resumes a tool reads its points from the row holding the first one past the cursor on
(and its seats from the verdict history), so paging a tool of n ballots reads its rows once
over all its pages (one row more per page), not once per page from its first row.

Cursors are not signed (they grant nothing): an edited cursor that is still well formed merely
starts the page elsewhere, as projections/catalog/paging.py's do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from domain import rules
from domain.errors import InvalidInput
from projections.catalog.fold import point_document
from projections.catalog.paging import cursor_fields, encode_cursor
from projections.catalog.score_proof import score_basis
from projections.catalog.views import tool_version
from projections.database import Database

SCOPE = "audit:scores"
MAX_BALLOTS = 4_000
"""Ballots on one page, voids counted against it: about 40 bytes each as JSON, so 160 KB of the
200 KB."""
WHOLE = -1
"""A cursor's leaf when the page after it starts with the next tool, not inside one."""
_LEAF = re.compile(r"-1|[0-9]{1,19}")
"""A cursor's leaf: WHOLE or a leaf index, ASCII digits only (int() takes other digits too)."""


@dataclass(frozen=True)
class Cursor:
    slug: str
    """The last tool of the page before."""
    leaf: int
    """Its last ballot's leaf index when its ballots continue on the next page, else WHOLE."""

    def encode(self, size: int) -> str:
        return encode_cursor(SCOPE, (size, f"{self.slug} {self.leaf}"))

    @classmethod
    def decode(cls, text: str, size: int) -> Cursor:
        """A well-formed cursor of this `size`'s score pages; InvalidInput naming `after` for
        anything else."""
        scope, at, tie = cursor_fields(text, "after")
        slug, _, leaf = tie.partition(" ") if isinstance(tie, str) else ("", "", "")
        if (
            scope != SCOPE
            or type(at) is not int
            or at != size
            or not rules.is_slug(slug)
            or not _LEAF.fullmatch(leaf)
        ):
            raise InvalidInput("after", "is not a cursor of this size's score pages")
        return cls(slug, int(leaf))


@dataclass(frozen=True)
class ScorePage:
    tools: list[dict[str, Any]]
    next: Cursor | None


def score_page(
    db: Database,
    size: int,
    after: Cursor | None = None,
    limit: int = 100,
    max_ballots: int = MAX_BALLOTS,
) -> ScorePage:
    """The page of tools listed within the first `size` events that starts after `after`."""
    entries: list[dict[str, Any]] = []
    room = max_ballots
    with db.transaction(commit=False) as c:
        for slug, packed in _tools(db, c, size, after, limit + 1):
            if len(entries) == limit or (room <= 0 and entries):
                return ScorePage(entries, Cursor(entries[-1]["tool"], WHOLE))
            resume = after.leaf if after is not None and slug == after.slug else WHOLE
            entry, cut = _entry(db, c, slug, packed, resume, room)
            entries.append(entry)
            if cut is not None:
                return ScorePage(entries, Cursor(slug, cut))
            room -= len(entry["score"]["community"]["ballots"])
            room -= len(entry["score"]["community"]["voids"])
    return ScorePage(entries, None)


def _tools(
    db: Database, c: Any, size: int, after: Cursor | None, batch: int
) -> Iterator[tuple[str, list[list[Any]]]]:
    """The tools past the cursor in slug order, `batch` slugs read at a time, each with its
    packed timeline points below `size` (tools listed later have none and are left out). The
    tool a cursor resumes comes with its points from the row holding the first leaf past the
    cursor's on (see `_points`)."""
    slug, bound = "", ">="
    if after is not None:  # inside a tool, the page resumes it; else it starts at the next
        slug, bound = after.slug, ">" if after.leaf == WHOLE else ">="
    while True:
        c.execute(
            db.sql(f"SELECT slug FROM view_tools WHERE slug {bound} ? ORDER BY slug LIMIT ?"),  # noqa: S608 - a literal
            (slug, batch),
        )
        slugs = [row["slug"] for row in c.fetchall()]
        for slug in slugs:
            resume = after.leaf if after is not None and slug == after.slug else WHOLE
            packed = _points(db, c, slug, size, resume)
            if packed:
                yield slug, packed
        if len(slugs) < batch:
            return
        bound = ">"


def _points(db: Database, c: Any, slug: str, size: int, resume: int) -> list[list[Any]]:
    """The tool's packed points below `size`: all of them (`resume` WHOLE), or those of the
    row holding its first point past leaf `resume` and of the rows after it, which hold every
    point past `resume` and the last one below `size`. One index range on (tool, first_size)
    from that row (a row's first_size is its first point's leaf + 1; the last row starting at
    or below min(resume + 2, size), else the tool's first), so a page resuming a tool does not
    read what came before, however long the tool."""
    if resume == WHOLE:
        c.execute(
            db.sql(
                "SELECT points FROM view_tool_points WHERE tool = ? AND first_size <= ? "
                "ORDER BY first_size"
            ),
            (slug, size),
        )
    else:
        c.execute(
            db.sql(
                "SELECT points FROM view_tool_points WHERE tool = ? AND first_size >= "
                "COALESCE((SELECT MAX(first_size) FROM view_tool_points WHERE tool = ? "
                "AND first_size <= ?), 0) AND first_size <= ? ORDER BY first_size"
            ),
            (slug, slug, min(resume + 2, size), size),
        )
    return [p for row in c.fetchall() for p in orjson.loads(row["points"]) if p[0] < size]


def _seats(db: Database, c: Any, slug: str, position: int) -> dict[str, tuple[int, str]]:
    """`ScoreBasis.seats` of the tool up to its point at log `position`, from its verdicts'
    history (one row per panel event, the same events as its panel points), for a page that
    folds only the points past a cursor."""
    c.execute(
        db.sql(
            "SELECT doc FROM view_verdict_history WHERE tool = ? AND position <= ? "
            "ORDER BY position"
        ),
        (slug, position),
    )
    seats: dict[str, tuple[int, str]] = {}
    for row in c.fetchall():
        entry = orjson.loads(row["doc"])
        if entry["change"] == "retracted":
            seats.pop(entry["seat"], None)
        else:
            seats[entry["seat"]] = (entry["leaf_index"], entry["decision"])
    return seats


def _entry(
    db: Database, c: Any, slug: str, packed: list[list[Any]], resume: int, room: int
) -> tuple[dict[str, Any], int | None]:
    """A tool's entry, its ballots after leaf `resume`, and the last ballot's leaf if more
    follow (else None). Its voids come with its first part only, all of them; they take from
    `room` what ballots may use, one ballot at least."""
    if resume == WHOLE:
        basis = score_basis(point_document(slug, p) for p in packed)
    else:
        # `packed` starts at the row holding the first point past `resume`: the ballots past
        # it are those of a fold of the points past it (a voter's current ballot rests on the
        # last point naming them); the seats come from the history instead.
        basis = score_basis(point_document(slug, p) for p in packed if p[0] > resume)
        basis.last = point_document(slug, packed[-1])
        basis.seats = _seats(db, c, slug, basis.last["position"])
    score = basis.document()
    community = score["community"]
    ballots = [b for b in community["ballots"] if b["leaf_index"] > resume]
    if resume != WHOLE:
        community["voids"] = []
    room = max(1, room - len(community["voids"]))
    cut = ballots[room - 1]["leaf_index"] if len(ballots) > room else None
    community["ballots"] = ballots[:room]
    assert basis.last is not None
    version = tool_version(db, c, slug, basis.last["size"])
    panel = version["panel"]
    entry = {
        "tool": slug,
        "status": version["status"],
        "panel": {
            **{k: panel[k] for k in ("ship", "skip", "total", "ship_pct")},
            "verdicts": [
                {k: v[k] for k in ("seat", "decision", "position")} for v in panel["verdicts"]
            ],
        },
        "score": score,
    }
    return entry, cut
