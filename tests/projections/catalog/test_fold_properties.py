"""For random histories of listings, verdicts, votes and moderation: the live (incremental,
restartable) projection equals a rebuild from zero, and both equal a naive recount kept beside
the ledger."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from hypothesis import given, settings

from domain.application import Ledger
from domain.errors import LedgerError
from domain.settings import Settings
from projections.catalog.fold import Catalog, ToolState, fold_catalog, point_document
from projections.catalog.panel import Verdict, panel_counts
from projections.catalog.score_proof import score_basis
from projections.catalog.views import CATALOG, CatalogProjection, ViewStore
from projections.following.follower import Follower
from projections.following.rebuild import read_events, rebuild
from tests.builders import EDITOR, listing
from tests.strategies import SLUGS, histories, moderated_histories

MODERATOR = "moderator:mo"


@dataclass
class ModelTool:
    listing: dict[str, str]
    listed_at: str
    updated_at: str
    position: int
    listed: bool = True
    seats: dict[str, Verdict] = field(default_factory=dict)
    """In the order the seats were filled (a dict keeps it; a retraction gives up the place)."""
    ballots: dict[str, str] = field(default_factory=dict)
    voided: dict[str, str] = field(default_factory=dict)
    """Voter -> the choice a moderator took out of the tally."""


@dataclass
class Model:
    """The naive recount: plain dictionaries, no events, no folds. Times and positions are
    those of the last event the ledger wrote for the command (the model cannot invent them)."""

    tools: dict[str, ModelTool] = field(default_factory=dict)
    comparisons: set[frozenset[str]] = field(default_factory=set)
    history: list[dict[str, Any]] = field(default_factory=list)
    """Every version of every verdict, as view_verdict_history keeps it."""

    def active(self, slug: str) -> bool:
        return slug in self.tools and self.tools[slug].listed

    def accepts(self, cmd: tuple[Any, ...]) -> bool:
        op, *args = cmd
        if op == "list":
            return args[0] not in self.tools
        if not self.active(args[0]):
            return False
        tool = self.tools[args[0]]
        match op:
            case "amend_listing":
                return tool.listing["name"] != args[1]
            case "delist":
                return True
            case "vote":
                return args[1] not in tool.voided
            case "void":
                return args[1] in tool.ballots
            case "restore":
                return args[1] in tool.voided
            case "publish":
                return args[1] not in tool.seats
            case "amend_verdict":
                seat, reviewer, decision, text = args[1:]
                if seat not in tool.seats:
                    return False
                v = tool.seats[seat]
                return (v.reviewer, v.decision, v.text) != (reviewer, decision, text)
            case "retract_verdict":
                return args[1] in tool.seats
            case "retract_vote":
                return args[1] in tool.ballots
            case "compare":
                pair = frozenset(args)
                return len(pair) == 2 and self.active(args[1]) and pair not in self.comparisons
        raise AssertionError(op)

    def apply(self, cmd: tuple[Any, ...], at: str, position: int) -> None:
        op, *args = cmd
        if op == "compare":
            self.comparisons.add(frozenset(args))
            return
        if op == "list":
            self.tools[args[0]] = ModelTool(listing(args[0]), at, at, position)
            return
        tool = self.tools[args[0]]
        tool.updated_at, tool.position = at, position
        match op:
            case "amend_listing":
                tool.listing["name"] = args[1]
            case "delist":
                tool.listed = False
            case "publish":
                seat, decision = args[1:]
                tool.seats[seat] = Verdict(seat, REVIEWER, decision, TEXT, at, at, 1, position)
                self.record(args[0], seat, "published", tool.seats[seat], None)
            case "amend_verdict":
                seat, reviewer, decision, text = args[1:]
                old = tool.seats[seat]
                tool.seats[seat] = Verdict(
                    seat, reviewer, decision, text, old.published_at, at, old.revision + 1, position
                )
                self.record(args[0], seat, "amended", tool.seats[seat], AMEND_REASON)
            case "retract_verdict":
                gone = tool.seats.pop(args[1])
                self.record(args[0], args[1], "retracted", replace(gone, position=position), None)
            case "vote":
                tool.ballots[args[1]] = args[2]
            case "retract_vote":
                del tool.ballots[args[1]]
            case "void":
                tool.voided[args[1]] = tool.ballots.pop(args[1])
            case "restore":
                tool.ballots[args[1]] = tool.voided.pop(args[1])

    def record(self, slug: str, seat: str, change: str, v: Verdict, reason: str | None) -> None:
        shown = change != "retracted"
        self.history.append(
            {
                "tool": slug,
                "seat": seat,
                "change": change,
                "reviewer": v.reviewer if shown else None,
                "decision": v.decision if shown else None,
                "text": v.text if shown else None,
                "reason": RETRACT_REASON if change == "retracted" else reason,
                "actor": EDITOR,
                "position": v.position,
            }
        )

    def documents(self) -> dict[str, dict[str, Any]]:
        """Every field a tool's published document has, recounted."""
        return {
            slug: {
                "slug": slug,
                **t.listing,
                "status": "listed" if t.listed else "delisted",
                "listed_at": t.listed_at,
                "updated_at": t.updated_at,
                "position": t.position,
                "panel": {
                    **_figures([v.decision for v in t.seats.values()]),
                    "verdicts": [asdict(v) for v in t.seats.values()],
                },
                "community": {**_figures(list(t.ballots.values())), "voided": len(t.voided)},
            }
            for slug, t in self.tools.items()
        }


def _figures(choices: list[str]) -> dict[str, Any]:
    ship, total = choices.count("ship"), len(choices)
    pct = None
    if total:
        pct = int((Decimal(100 * ship) / Decimal(total)).quantize(Decimal(1), ROUND_HALF_UP))
    return {"ship": ship, "skip": total - ship, "total": total, "ship_pct": pct}


REVIEWER, TEXT, AMEND_REASON, RETRACT_REASON = "Reviewer", "t", "edit", "retract"
HISTORY_FIELDS = ("tool", "seat", "change", "reviewer", "decision", "text", "reason", "actor")
HISTORY_FIELDS += ("position",)


def play(ledger: Ledger, history: list[tuple[Any, ...]]) -> None:
    """Every write command of `history`, refusals included (they write nothing); the follower
    commands are for the tests that run a live projection."""
    for cmd in history:
        if cmd[0] not in ("catch_up", "restart_follower"):
            with contextlib.suppress(LedgerError):
                run(ledger, cmd)


def run(ledger: Ledger, cmd: tuple[Any, ...]) -> None:
    op, *args = cmd
    match op:
        case "list":
            ledger.list_tool(args[0], listing(args[0]), EDITOR)
        case "amend_listing":
            ledger.amend_listing(args[0], {"name": args[1]}, "rename", EDITOR)
        case "delist":
            ledger.delist_tool(args[0], "gone", EDITOR)
        case "publish":
            ledger.publish_verdict(args[0], args[1], REVIEWER, args[2], TEXT, EDITOR)
        case "amend_verdict":
            seat, reviewer, decision, text = args[1:]
            ledger.amend_verdict(args[0], seat, reviewer, decision, text, AMEND_REASON, EDITOR)
        case "retract_verdict":
            ledger.retract_verdict(args[0], args[1], RETRACT_REASON, EDITOR)
        case "vote":
            ledger.vote(args[0], args[1], args[2])
        case "retract_vote":
            ledger.vote(args[0], args[1], None)
        case "compare":
            ledger.publish_comparison(args[0], args[1], EDITOR)
        case "void":
            voter = args[1].removeprefix("voter:")
            ledger.void_ballots(args[0], [voter], "stuffing", "one-vote", MODERATOR)
        case "restore":
            voter = args[1].removeprefix("voter:")
            ledger.restore_ballots(args[0], [voter], "false positive", "one-vote", MODERATOR)


def view_documents(views: ViewStore) -> dict[str, dict[str, Any]]:
    docs = views.tool_documents(CATALOG).docs
    return {d["slug"]: d for d in map(orjson.loads, docs)}


def all_history(views: ViewStore) -> list[bytes]:
    return [
        bytes(r["doc"])
        for r in views.db.fetch("SELECT doc FROM view_verdict_history ORDER BY position")
    ]


def all_corrections(views: ViewStore) -> list[dict[str, Any]]:
    """The feed's corrections (one per moderation request), oldest first."""
    rows = views.db.fetch("SELECT doc FROM view_corrections ORDER BY position")
    return [orjson.loads(bytes(r["doc"])) for r in rows]


def catalog_documents(catalog: Catalog) -> dict[str, dict[str, Any]]:
    return {slug: t.document() for slug, t in catalog.tools.items()}


@settings(max_examples=200)
@given(histories)
def test_live_projection_equals_rebuild_equals_recount(history: list[tuple[Any, ...]]) -> None:
    """Incremental views (with restarts) == fold from zero == naive recount of every published
    field (verdicts, times and positions included), and the verdict history is every version."""
    live_equals_rebuild_equals_recount(history)


@settings(max_examples=100)
@given(moderated_histories)
def test_moderation_keeps_live_equal_to_rebuild_and_recount(
    history: list[tuple[Any, ...]],
) -> None:
    """The same with voids and restores landing on ballots: `voided` and the tally agree."""
    live_equals_rebuild_equals_recount(history)


def test_a_correction_widened_after_a_restart_is_one_correction() -> None:
    """Two voids with one reason, consecutive in the log, folded by a follower restarted in
    between: one correction of two ballots, as a rebuild gives."""
    live_equals_rebuild_equals_recount(
        [
            ("list", "alpha"),
            ("vote", "alpha", "voter:v0", "ship"),
            ("vote", "alpha", "voter:v1", "skip"),
            ("void", "alpha", "voter:v0"),
            ("catch_up",),
            ("restart_follower",),
            ("void", "alpha", "voter:v1"),
        ]
    )


def live_equals_rebuild_equals_recount(history: list[tuple[Any, ...]]) -> None:
    ledger = Ledger(Settings(database_url="sqlite:///:memory:"))
    try:
        views = ViewStore(ledger.recorder)
        views.create_tables()
        follower = Follower(ledger.recorder, CatalogProjection(views), page_size=7)
        model = Model()
        for cmd in history:
            if cmd[0] == "catch_up":
                follower.catch_up()
                continue
            if cmd[0] == "restart_follower":
                follower = Follower(ledger.recorder, CatalogProjection(views), page_size=7)
                continue
            before = ledger.recorder.max_notification_id() or 0
            try:
                run(ledger, cmd)
                accepted = True
            except LedgerError:
                accepted = False
                assert ledger.recorder.max_notification_id() == (before or None), "refusal wrote"
            assert accepted == model.accepts(cmd), cmd
            written = list(read_events(ledger.recorder, after=before)) if accepted else []
            if written:
                model.apply(cmd, written[-1].timestamp, written[-1].position)
            elif accepted:  # a vote for the voter's current choice changes nothing
                assert model.tools[cmd[1]].ballots.get(cmd[2]) == cmd[3], cmd
        follower.catch_up()

        expected = model.documents()
        live = view_documents(views)
        assert live == expected
        assert catalog_documents(fold_catalog(read_events(ledger.recorder))) == expected

        corrections = all_corrections(views)
        assert sum(c["ballots"] for c in corrections) == sum(
            e.kind in ("Ballot.Voided", "Ballot.Restored") for e in read_events(ledger.recorder)
        )
        history = all_history(views)
        entries = [orjson.loads(doc) for doc in history]
        assert [{k: e[k] for k in HISTORY_FIELDS} for e in entries] == model.history
        assert rebuild(ledger.recorder, CatalogProjection(views), page_size=5) == (
            ledger.recorder.max_notification_id() or 0
        )
        assert view_documents(views) == live
        assert all_history(views) == history
        assert all_corrections(views) == corrections
        assert views.position(CATALOG) == (ledger.recorder.max_notification_id() or 0)
        score_proofs_name_what_the_tally_counts(views, model, list(read_events(ledger.recorder)))
    finally:
        ledger.close()


def score_proofs_name_what_the_tally_counts(
    views: ViewStore, model: Model, events: list[Any]
) -> None:
    """Each tool's score proof names one leaf per counted verdict and ballot and one per void in
    force (what the browser check recounts): the leaves are those events, on that tool."""
    for slug, tool in model.tools.items():
        proof = score_basis(views.tool_points(CATALOG, slug, len(events))).document()
        community = proof["community"]
        voided = [events[v["leaf_index"]] for v in community["voids"]]
        assert [e.kind for e in voided] == ["Ballot.Voided"] * len(tool.voided)
        assert {e.data["voter"] for e in voided} == set(tool.voided)
        counted = [events[b["leaf_index"]] for b in community["ballots"]]
        assert {e.data["tool"] for e in counted + voided} <= {slug}
        assert sorted(b["choice"] for b in community["ballots"]) == sorted(tool.ballots.values())
        assert len(proof["panel"]["verdicts"]) == len(tool.seats)


@given(histories)
@settings(max_examples=30)
def test_documents_round_trip_to_state(history: list[tuple[Any, ...]]) -> None:
    """A stored document restores exactly the state it was written from."""
    ledger = Ledger(Settings(database_url="sqlite:///:memory:"))
    try:
        play(ledger, history)
        catalog = fold_catalog(read_events(ledger.recorder))
        for state in catalog.tools.values():
            assert ToolState.from_document(orjson.loads(orjson.dumps(state.document()))) == state
    finally:
        ledger.close()


@given(histories | moderated_histories)
@settings(max_examples=60)
def test_time_travel_equals_replay_of_the_first_n_events(history: list[tuple[Any, ...]]) -> None:
    """For every log size N and tool: the view's `as_of N` == a fold of the first N events,
    and the tool's timeline has one point per event on it, each with that fold's figures."""
    ledger = Ledger(Settings(database_url="sqlite:///:memory:"))
    try:
        views = ViewStore(ledger.recorder)
        views.create_tables()
        follower = Follower(ledger.recorder, CatalogProjection(views), page_size=3)
        play(ledger, history)
        follower.catch_up()
        events = list(read_events(ledger.recorder))
        replay = Catalog()
        expected_points: dict[str, list[dict[str, Any]]] = {}
        for n in range(len(events) + 1):
            for slug in SLUGS:
                state = replay.tools.get(slug)
                assert views.tool_as_of(slug, n) == (state.document() if state else None), n
            if n < len(events):
                replay.apply(events[n])
                for slug, packed in replay.drain().timeline.items():
                    [point] = [point_document(slug, p) for p in packed]
                    tool = replay.tools[slug]
                    assert point["panel"] == panel_counts(tool.seats)
                    assert point["community"] == tool.tally.figures()
                    assert (point["size"], point["position"]) == (n + 1, events[n].position)
                    expected_points.setdefault(slug, []).append(point)
        for slug in SLUGS:
            timeline = [orjson.loads(d) for d in views.tool_timeline(CATALOG, slug).docs]
            assert timeline == expected_points.get(slug, [])
            for point in timeline:
                doc = views.tool_as_of(slug, point["size"])
                assert doc is not None
                assert doc["community"] == point["community"]
                assert views.tool_at_time(slug, point["at"]) is not None
    finally:
        ledger.close()
