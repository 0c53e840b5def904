"""The catalog: every tool's published figures and every comparison, folded from the whole log.

`fold_tool` and `fold_comparison` are pure; `Catalog.apply` routes each event to the one entry it
concerns (events name their tool, so no lookup tables grow with the log)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

from projections.catalog.community import Tally, fold_tally
from projections.catalog.panel import (
    Seats,
    fold_seats,
    panel_counts,
    panel_figures,
    seats_from_figures,
)
from projections.catalog.percent import share
from projections.records import LedgerEvent

CATALOG_VERSION = 1
"""The version of these folds. Raise it with any change to what they compute from the same
events: a service that starts with a new version rebuilds the catalog beside the serving tables
and switches once caught up (projections/following/generations.py, docs/deploy.md)."""

LISTING_FIELDS = ("name", "category", "tagline", "description", "pricing")


class ToolState(NamedTuple):
    """Immutable (a named tuple rather than a frozen dataclass: a replay makes one per event on
    the tool, and a frozen dataclass costs several times as much to construct)."""

    slug: str
    listing: dict[str, str]
    status: str
    listed_at: str
    updated_at: str
    position: int
    """Log position of the last event that changed this tool."""
    seats: Seats
    tally: Tally

    def document(self) -> dict[str, Any]:
        """The published view of this tool, as the API serves it and the view table stores it."""
        return {
            "slug": self.slug,
            **self.listing,
            "status": self.status,
            "listed_at": self.listed_at,
            "updated_at": self.updated_at,
            "position": self.position,
            "panel": panel_figures(self.seats),
            "community": self.tally.figures(),
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ToolState:
        return cls(
            slug=doc["slug"],
            listing={k: doc[k] for k in LISTING_FIELDS},
            status=doc["status"],
            listed_at=doc["listed_at"],
            updated_at=doc["updated_at"],
            position=doc["position"],
            seats=seats_from_figures(doc["panel"]),
            tally=Tally(
                doc["community"]["ship"],
                doc["community"]["skip"],
                doc["community"].get("voided", 0),
            ),
        )


_new = tuple.__new__
"""A named tuple without its Python-level __new__ (fold_tool makes one per ballot event)."""


def fold_tool(state: ToolState | None, event: LedgerEvent) -> ToolState | None:
    kind, data = event.kind, event.data
    if kind == "Tool.Listed":
        return ToolState(
            slug=data["tool"],
            listing={k: data[k] for k in LISTING_FIELDS},
            status="listed",
            listed_at=event.timestamp,
            updated_at=event.timestamp,
            position=event.position,
            seats={},
            tally=Tally(),
        )
    if state is None:
        return None
    if kind.startswith("Ballot."):  # most of a large log: one tuple, no keyword arguments
        slug, listing, status, listed_at, _, _, seats, tally = state
        tally = fold_tally(tally, event)
        return _new(
            ToolState,
            (slug, listing, status, listed_at, event.timestamp, event.position, seats, tally),
        )
    moved: dict[str, Any] = {"updated_at": event.timestamp, "position": event.position}
    if kind.startswith("Panel."):
        moved["seats"] = fold_seats(state.seats, event)
    elif kind == "Tool.ListingAmended":
        moved["listing"] = {**state.listing, **data["changes"]}
    elif kind == "Tool.Delisted":
        moved["status"] = "delisted"
    else:
        return state
    return state._replace(**moved)


@dataclass(frozen=True, slots=True)
class ComparisonState:
    key: str
    left: str
    right: str
    status: str
    published_at: str
    position: int

    def document(self) -> dict[str, Any]:
        """Every field under its own name: what `from_document` reads back."""
        return asdict(self)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ComparisonState:
        return cls(**doc)


def fold_comparison(state: ComparisonState | None, event: LedgerEvent) -> ComparisonState | None:
    kind, data = event.kind, event.data
    if kind in ("Comparison.Published", "Comparison.Republished"):
        return ComparisonState(
            key=event.originator_id,
            left=data["left"],
            right=data["right"],
            status="published",
            published_at=event.timestamp,
            position=event.position,
        )
    if kind == "Comparison.Withdrawn" and state is not None:
        return replace(state, status="withdrawn", position=event.position)
    return state


HISTORY_KINDS = {
    "Panel.VerdictPublished": "published",
    "Panel.VerdictAmended": "amended",
    "Panel.VerdictRetracted": "retracted",
}


def history_entry(event: LedgerEvent, leaf_index: int) -> dict[str, Any]:
    """One version of a verdict: what it said, who changed it, why and when."""
    data = event.data
    return {
        "tool": data["tool"],
        "seat": data["seat"],
        "change": HISTORY_KINDS[event.kind],
        "reviewer": data.get("reviewer"),
        "decision": data.get("decision"),
        "text": data.get("text"),
        "reason": data.get("reason"),
        "actor": data["actor"],
        "at": event.timestamp,
        "position": event.position,
        "leaf_index": leaf_index,
    }


def action_entry(event: LedgerEvent, leaf_index: int) -> dict[str, Any] | None:
    """What an editor (any actor but a voter) did, for the editor's own list of actions: None
    for a voter's ballot or an event without an actor."""
    actor = event.data.get("actor")
    if not isinstance(actor, str) or actor.startswith("voter:"):
        return None
    data = event.data
    subject = data.get("tool") or f"{data.get('left')}-vs-{data.get('right')}"
    return {
        "actor": actor,
        "kind": event.kind,
        "subject": subject,
        "seat": data.get("seat"),
        "reason": data.get("reason"),
        "at": event.timestamp,
        "position": event.position,
        "leaf_index": leaf_index,
    }


MODERATION_KINDS = {"Ballot.Voided": "voided", "Ballot.Restored": "restored"}


def correction_entry(
    event: LedgerEvent, leaf_index: int, last: dict[str, Any] | None
) -> dict[str, Any]:
    """One correction of a tool's votes, as the feed announces it: a moderation request is one
    save, so its events are consecutive leaves with one kind, reason, rule and moderator; an
    event that continues `last` (the tool's previous correction) widens it by one ballot."""
    data = event.data
    change = MODERATION_KINDS[event.kind]
    said = (data["reason"], data["rule"], data["actor"])
    if (
        last is not None
        and last["last_leaf_index"] == leaf_index - 1
        and (last["change"], last["reason"], last["rule"], last["actor"]) == (change, *said)
    ):
        return {
            **last,
            "ballots": last["ballots"] + 1,
            "last_position": event.position,
            "last_leaf_index": leaf_index,
        }
    return {
        "tool": data["tool"],
        "change": change,
        "reason": data["reason"],
        "rule": data["rule"],
        "actor": data["actor"],
        "ballots": 1,
        "at": event.timestamp,
        "position": event.position,
        "leaf_index": leaf_index,
        "last_position": event.position,
        "last_leaf_index": leaf_index,
    }


POINT_DETAILS = ("seat", "choice", "decision")
MODERATION_DETAILS = ("voter", "choice", "previous", "reason", "rule")
"""What a void's or restore's point says: whose ballot, which choice it moved, why."""
CORRECTION = "voting corrected: "
"""How the score history names a step made by moderation (followed by the reason)."""

BALLOT_KINDS = frozenset({"Ballot.Cast", "Ballot.Recast", "Ballot.Changed", "Ballot.Retracted"})
"""The events `Catalog.apply_all` folds on its fast path (with `fold_tally`, as `apply` does)."""

Point = tuple[Any, ...]
"""A timeline point, packed as stored (a JSON array): (leaf_index, position, at, kind, actor,
panel ship, panel total, community ship, community skip, details or None, community voided).
`point_document` expands it into the published point (a point stored before moderation
existed has no `voided`: 0)."""


def pack_point(tool: ToolState, event: LedgerEvent, leaf_index: int, panel: Sequence[int]) -> Point:
    """The tool's scores just after `event`, and what the event was: one step of its timeline.
    `panel` is (ship, total) of the tool's current verdicts (`panel_counts`); `seat` and
    `choice` let an auditor tell which events the current figures rest on; a first vote's
    `surface`, when it recorded one, says where the community's votes come from."""
    data = event.data
    details: dict[str, Any] | None = None
    if "seat" in data or "decision" in data:
        details = {k: data[k] for k in POINT_DETAILS if k in data}
    elif "voter" in data:  # moderation: only Voided and Restored name a voter besides the actor
        details = {k: data[k] for k in MODERATION_DETAILS if k in data}
    elif "choice" in data:  # ballots: the common case, without a comprehension
        details = {"choice": data["choice"]}
        surface = data.get("surface")  # Ballot.Cast v2; absent from v1, which means None
        if surface is not None:
            details["surface"] = surface
    ship, skip, voided = tool.tally
    return (
        leaf_index,
        event.position,
        event.timestamp,
        event.kind,
        data["actor"],
        panel[0],
        panel[1],
        ship,
        skip,
        details,
        voided,
    )


def point_document(slug: str, point: Sequence[Any]) -> dict[str, Any]:
    """The published timeline point of a packed one."""
    leaf_index, position, at, kind, actor, panel_ship, panel_total, ship, skip, details = point[:10]
    voided = point[10] if len(point) > 10 else 0
    total = ship + skip
    doc = {
        "tool": slug,
        "leaf_index": leaf_index,
        "size": leaf_index + 1,
        "position": position,
        "at": at,
        "kind": kind,
        "actor": actor,
        "panel": {
            "ship": panel_ship,
            "skip": panel_total - panel_ship,
            "total": panel_total,
            "ship_pct": share(panel_ship, panel_total),
        },
        "community": {
            "ship": ship,
            "skip": skip,
            "total": total,
            "ship_pct": share(ship, total),
            "voided": voided,
        },
    }
    if details:
        doc.update(details)
        if "voter" in details:
            doc["correction"] = CORRECTION + details["reason"]
    return doc


@dataclass
class Batch:
    """What changed since the last drain: written to the views together with the new position.
    `versions` are whole documents after editorial (non-ballot) events; `timeline` has one packed
    point per event on a tool, by tool. Together they answer "as of log size N" with two index
    look-ups."""

    tools: list[ToolState]
    comparisons: list[ComparisonState]
    history: list[dict[str, Any]]
    timeline: dict[str, list[Point]] = field(default_factory=dict)
    versions: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    """`action_entry` of each editorial event, for the index of actions by actor."""
    corrections: list[dict[str, Any]] = field(default_factory=list)
    """Corrections (moderation requests) begun or widened, each keyed by its first position."""


@dataclass
class Catalog:
    """All tools and comparisons after the first `size` events (the last at `position`), plus
    what changed since the last `drain`."""

    tools: dict[str, ToolState] = field(default_factory=dict)
    comparisons: dict[str, ComparisonState] = field(default_factory=dict)
    position: int = 0
    size: int = 0
    changed_tools: set[str] = field(default_factory=set)
    changed_comparisons: set[str] = field(default_factory=set)
    new_history: list[dict[str, Any]] = field(default_factory=list)
    new_timeline: dict[str, list[Point]] = field(default_factory=dict)
    new_versions: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    new_actions: list[dict[str, Any]] = field(default_factory=list)
    panels: dict[str, tuple[int, int]] = field(default_factory=dict)
    """(ship, total) of each tool's panel: only panel events change it, so ballots reuse it."""
    corrections: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each tool's latest correction (the next void or restore may widen it)."""
    new_corrections: dict[int, dict[str, Any]] = field(default_factory=dict)

    def apply(self, event: LedgerEvent) -> None:
        leaf_index = self.size
        kind = event.kind
        if not kind.startswith("Ballot."):
            action = action_entry(event, leaf_index)
            if action is not None:
                self.new_actions.append(action)
        if kind.startswith("Comparison."):
            key = event.originator_id
            new = fold_comparison(self.comparisons.get(key), event)
            if new is not None:
                self.comparisons[key] = new
                self.changed_comparisons.add(key)
        else:
            slug = event.data.get("tool")
            if slug is not None:
                tool = fold_tool(self.tools.get(slug), event)
                if tool is not None:
                    self.tools[slug] = tool
                    self.changed_tools.add(slug)
                    ballot = kind.startswith("Ballot.")
                    panel = self.panels.get(slug) if ballot else None
                    if panel is None:
                        counts = panel_counts(tool.seats)
                        panel = self.panels[slug] = (counts["ship"], counts["total"])
                    point = pack_point(tool, event, leaf_index, panel)
                    points = self.new_timeline.get(slug)
                    if points is None:
                        self.new_timeline[slug] = [point]
                    else:
                        points.append(point)
                    if not ballot:
                        self.new_versions.append((slug, leaf_index + 1, tool.document()))
                    if kind in HISTORY_KINDS:
                        self.new_history.append(history_entry(event, leaf_index))
                    elif kind in MODERATION_KINDS:
                        entry = correction_entry(event, leaf_index, self.corrections.get(slug))
                        self.corrections[slug] = self.new_corrections[entry["position"]] = entry
        self.position = event.position
        self.size = leaf_index + 1

    def apply_all(self, events: Iterable[LedgerEvent]) -> None:
        """`apply` each event in turn. A ballot event on a listed tool (nearly every event of a
        large log) takes a path written out for that one case: the steps of `apply` and
        `fold_tool` for it, without their calls and keyword arguments; its tally and its
        timeline point are still `fold_tally`'s and `pack_point`'s. Every other event
        goes through `apply` itself; tests/projections/catalog/test_fold_pages.py holds the two
        paths equal on arbitrary events."""
        tools, panels, timeline, changed = (
            self.tools,
            self.panels,
            self.new_timeline,
            self.changed_tools,
        )
        size, new, toolstate = self.size, _new, ToolState
        for event in events:
            position, _, kind, _, _, timestamp, data = event
            slug = data.get("tool", "")
            tool = tools.get(slug) if kind in BALLOT_KINDS else None
            if tool is None or "seat" in data or "decision" in data:
                self.size = size
                self.apply(event)
                size = self.size
                continue
            name, listing, status, listed_at, _, _, seats, tally = tool
            tally = fold_tally(tally, event)
            tool = tools[slug] = new(
                toolstate, (name, listing, status, listed_at, timestamp, position, seats, tally)
            )
            changed.add(slug)
            panel = panels.get(slug)
            if panel is None:
                counts = panel_counts(seats)
                panel = panels[slug] = (counts["ship"], counts["total"])
            point = pack_point(tool, event, size, panel)
            points = timeline.get(slug)
            if points is None:
                timeline[slug] = [point]
            else:
                points.append(point)
            self.position = position
            size += 1
        self.size = size

    def drain(self) -> Batch:
        """The entries changed since the last drain (from a fresh catalog: everything)."""
        batch = Batch(
            tools=[self.tools[s] for s in sorted(self.changed_tools)],
            comparisons=[self.comparisons[k] for k in sorted(self.changed_comparisons)],
            history=self.new_history,
            timeline=self.new_timeline,
            versions=self.new_versions,
            actions=self.new_actions,
            corrections=list(self.new_corrections.values()),
        )
        self.new_corrections = {}
        self.changed_tools.clear()
        self.changed_comparisons.clear()
        self.new_history = []
        self.new_timeline = {}
        self.new_versions = []
        self.new_actions = []
        return batch


def fold_catalog(events: Iterable[LedgerEvent], catalog: Catalog | None = None) -> Catalog:
    """Fold events into a catalog, from zero unless one is given."""
    catalog = catalog if catalog is not None else Catalog()
    catalog.apply_all(events)
    return catalog


def document_as_of(version: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """A tool's document at some log size, from its last editorial version and its last timeline
    point at that size: ballots only move `community`, `position` and `updated_at`."""
    return {
        **version,
        "position": point["position"],
        "updated_at": point["at"],
        "community": point["community"],
    }
