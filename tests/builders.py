"""Small builders the tests share."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import ApplicationRecorder, Recording

from api.bootstrap import Runtime, open_runtime
from domain.application import Ledger
from domain.ballot import Ballot
from domain.comparison import Comparison
from domain.errors import ToolDelisted
from domain.ids import ballot_id
from domain.panel import Panel
from domain.settings import Settings
from projections.following.follower import Follower, Projection
from projections.following.rebuild import read_events
from projections.records import LedgerEvent

EDITOR = "editor:test"

T = TypeVar("T")


def exactly(message: str) -> str:
    """A `pytest.raises(match=...)` pattern for this whole message and nothing else: a test that
    matches a fragment lets a mutant that garbles the rest of the message live."""
    return rf"\A{re.escape(message)}\Z"


def listing(slug: str) -> dict[str, str]:
    return {
        "name": slug.replace("-", " ").title(),
        "category": "Developer Tools",
        "tagline": f"{slug} in one line",
        "description": f"{slug} is a tool the tests list.",
        "pricing": "Free",
    }


def list_tools(ledger: Ledger, *slugs: str, actor: str = EDITOR) -> None:
    for slug in slugs:
        ledger.list_tool(slug, listing(slug), actor)


def vote_in_random_commits(
    ledger: Ledger,
    projection: Callable[[], Projection],
    *,
    seed: int,
    votes: int,
    beta_every: int,
    small_page: int,
    largest_page: int,
    after_vote: Callable[[int], object] = lambda i: None,
) -> list[LedgerEvent]:
    """alpha and beta listed, then `votes` random votes (every `beta_every`-th on beta), the
    projection following now and then in pages of `small_page` and last in one page of a random
    size up to `largest_page`: commits that end anywhere, across any row or chunk boundary.
    Returns the events as stored."""
    list_tools(ledger, "alpha", "beta")
    rng = random.Random(seed)
    for i in range(votes):
        slug = "alpha" if i % beta_every else "beta"
        ledger.vote(slug, f"voter:{i}", rng.choice(("ship", "skip")))
        after_vote(i)
        if rng.random() < 0.1:
            Follower(ledger.recorder, projection(), page_size=small_page).catch_up()
    Follower(ledger.recorder, projection(), page_size=rng.randint(1, largest_page)).catch_up()
    return list(read_events(ledger.recorder))


@contextmanager
def restarted(settings: Settings, before: Callable[[Runtime], T]) -> Iterator[tuple[Runtime, T]]:
    """A store that `before` left as an older version would have (its answer kept), then
    opened again: what a start after an upgrade finds. Both runtimes are closed."""
    runtime = open_runtime(settings)
    try:
        kept = before(runtime)
    finally:
        runtime.close()
    runtime = open_runtime(settings)
    try:
        yield runtime, kept
    finally:
        runtime.close()


def stored_ballot(ledger: Ledger, slug: str, voter: str) -> Ballot | None:
    """The voter's ballot on the tool as stored, or None."""
    try:
        ballot: Ballot = ledger.repository.get(ballot_id(slug, voter))
    except AggregateNotFoundError:
        return None
    return ballot


class DelistedBeforeSave(Ledger):
    """A ledger overtaken by another process: the first time it stores a vote, a verdict or a
    comparison, another ledger on the same store delists `tool` just before the save, after
    this one has checked that the tool is listed. The window of a race, made certain."""

    name = "Ledger"  # the store's tables are named after the application

    def __init__(self, settings: Settings, tool: str) -> None:
        self.to_delist: str | None = tool
        self.rival = Ledger(settings.model_copy(update={"group_commit": False}))
        super().__init__(settings)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        if self.to_delist and any(isinstance(o, Ballot | Panel | Comparison) for o in objs):
            slug, self.to_delist = self.to_delist, None
            self.rival.delist_tool(slug, "delisted meanwhile", EDITOR)
        return super().save(*objs, **kwargs)

    def close(self) -> None:
        super().close()
        self.rival.close()


def stored_after_delisting(recorder: ApplicationRecorder, slug: str) -> list[LedgerEvent]:
    """Every event on the tool other than its own (ballots, verdicts, comparisons) stored after
    the tool's `Delisted` event: what must never exist."""
    events = list(read_events(recorder))
    delisted = next(
        e.position for e in events if e.kind == "Tool.Delisted" and e.data["tool"] == slug
    )
    return [
        e
        for e in events
        if e.position > delisted
        and not e.kind.startswith("Tool.")
        and slug in (e.data.get("tool"), e.data.get("left"), e.data.get("right"))
    ]


@dataclass(frozen=True)
class ToolSpec:
    """A tool as a catalog test wants it: listed at `listed_at`, with these verdicts (one seat
    each), `ship` and `skip` community votes, perhaps delisted."""

    slug: str
    category: str
    listed_at: str
    verdicts: tuple[str, ...] = ()
    ship: int = 0
    skip: int = 0
    delisted: bool = False
    text: str = "A verdict."
    description: str | None = None


def catalog_events(specs: Sequence[ToolSpec], compare_every: int = 0) -> list[LedgerEvent]:
    """The events that make these tools (and, with `compare_every` n, a comparison of each
    n-th tool with the one before it), positions 1, 2, ..., for the catalog fold."""
    drawn: list[tuple[str, str, str, dict[str, Any]]] = []
    for n, spec in enumerate(specs):
        at, slug = spec.listed_at, spec.slug
        fields = {**listing(slug), "category": spec.category}
        if spec.description is not None:
            fields["description"] = spec.description
        drawn.append(("Tool.Listed", slug, at, {"tool": slug, "actor": EDITOR, **fields}))
        for seat, decision in zip(SEATS, spec.verdicts, strict=False):
            verdict = {"seat": seat, "reviewer": seat.title(), "decision": decision}
            data = {"tool": slug, "actor": EDITOR, "text": spec.text, **verdict}
            drawn.append(("Panel.VerdictPublished", f"panel-{slug}", at, data))
        for i, choice in enumerate(["ship"] * spec.ship + ["skip"] * spec.skip):
            data = {"tool": slug, "choice": choice, "actor": f"voter:v{i}"}
            drawn.append(("Ballot.Cast", f"ballot-{slug}-{i}", at, data))
        if spec.delisted:
            data = {"tool": slug, "reason": "gone", "actor": EDITOR}
            drawn.append(("Tool.Delisted", slug, at, data))
        if compare_every and n % compare_every == compare_every - 1:
            left, right = specs[n - 1].slug, slug
            data = {"left": left, "right": right, "actor": EDITOR}
            drawn.append(("Comparison.Published", str(uuid5(NAMESPACE_URL, slug)), at, data))
    return [
        LedgerEvent(p, f"domain.x:{kind}", kind, origin, 1, at, data)
        for p, (kind, origin, at, data) in enumerate(drawn, start=1)
    ]


SEATS = ("builder", "skeptic", "buyer", "futurist")


def race_a_delisting(
    editor: Ledger,
    slug: str,
    attempt: Callable[[int], T],
    attempts: int,
    together: int,
    workers: int,
) -> tuple[int, list[T | str]]:
    """`attempt(0)` … `attempt(attempts - 1)` on `workers` threads while `editor` delists
    `slug`, the delisting let go together with attempt number `together`: the delisting's
    position, and each attempt's answer (a refusal as its problem type)."""
    started = threading.Barrier(2)
    delisted: list[int] = []

    def delist() -> None:
        started.wait()
        delisted.append(editor.delist_tool(slug, "gone", EDITOR).position)

    def answer(i: int) -> T | str:
        if i == together:
            started.wait()
        try:
            return attempt(i)
        except ToolDelisted as refusal:
            return refusal.type

    editor_thread = threading.Thread(target=delist)
    editor_thread.start()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = list(pool.map(answer, range(attempts)))
    editor_thread.join()
    return delisted[0], answers
