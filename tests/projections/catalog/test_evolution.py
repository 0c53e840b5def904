"""Ballot.Cast v1 and v2 in one log (docs/evolution.md): the folds read the stored JSON as it was
written, so a v1 Cast (no `surface`, no `class_version`) must fold exactly as the v2 Cast the
domain's upcast makes of it (surface None)."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import Ledger
from domain.errors import LedgerError
from domain.settings import Settings
from projections.catalog.fold import Batch, Catalog
from projections.following.rebuild import read_events
from projections.records import LedgerEvent
from tests.projections.catalog.test_fold_properties import run
from tests.strategies import histories

surfaces = st.sampled_from((None, "api", "page"))


def folded(events: list[LedgerEvent]) -> tuple[dict[str, Any], list[Batch]]:
    """Every tool's and comparison's state, and the batch (timeline points, versions…) drained
    after each event (states, not documents: the drawn logs may contradict themselves)."""
    catalog, batches = Catalog(), []
    for event in events:
        catalog.apply(event)
        batches.append(catalog.drain())
    return {"tools": catalog.tools, "comparisons": catalog.comparisons}, batches


@given(histories, st.data())
@settings(max_examples=60)
def test_v1_then_v2_folds_as_all_v2(history: list[tuple[Any, ...]], data: st.DataObject) -> None:
    """A real ledger's history (first votes with drawn surfaces); then its first `cut` Casts as
    v1 wrote them (no `surface`, no `class_version`) against the same log written all in v2
    (those first Casts with surface None, what the upcast makes of v1): the same states and
    every drained batch (timeline points, versions…), event by event and page by page."""
    events = ledger_events(history, data)
    cut = data.draw(st.sampled_from(range(len(events) + 1)), label="cut")
    mixed, all_v2 = [], []
    for i, event in enumerate(events):
        if i < cut and event.kind == "Ballot.Cast":
            v2 = {**event.data, "surface": None}
            v1 = {k: v for k, v in event.data.items() if k not in ("surface", "class_version")}
            mixed.append(event._replace(data=v1))
            all_v2.append(event._replace(data=v2))
        else:
            mixed.append(event)
            all_v2.append(event)
    assert folded(mixed) == folded(all_v2)
    paged = Catalog()
    paged.apply_all(mixed)
    assert {"tools": paged.tools, "comparisons": paged.comparisons} == folded(all_v2)[0]


def ledger_events(history: list[tuple[Any, ...]], data: st.DataObject) -> list[LedgerEvent]:
    """The events a ledger stores for `history`, each vote from a drawn surface."""
    ledger = Ledger(Settings(database_url="sqlite:///:memory:"))
    try:
        for cmd in history:
            if cmd[0] in ("catch_up", "restart_follower"):
                continue
            with contextlib.suppress(LedgerError):
                if cmd[0] == "vote":
                    ledger.vote(*cmd[1:], data.draw(surfaces, label="surface"))
                else:
                    run(ledger, cmd)
        return list(read_events(ledger.recorder))
    finally:
        ledger.close()


def test_a_cast_says_its_surface_in_the_score_history() -> None:
    """A v2 Cast's point names its surface; a v1 Cast's (and a v2 one with none) does not."""
    listed = LedgerEvent(
        1,
        "domain.tool:Tool.Listed",
        "Tool.Listed",
        "t",
        1,
        "2026-01-01T00:00:00+00:00",
        {
            "tool": "alpha",
            "actor": "editor:e",
            "name": "A",
            "category": "c",
            "tagline": "t",
            "description": "d",
            "pricing": "p",
        },
    )
    v1 = {"tool": "alpha", "actor": "voter:a", "choice": "ship"}
    casts = [
        LedgerEvent(
            2 + i,
            "domain.ballot:Ballot.Cast",
            "Ballot.Cast",
            f"b{i}",
            1,
            "2026-01-01T00:00:00+00:00",
            {**v1, "actor": f"voter:{i}", **extra},
        )
        for i, extra in enumerate(
            [{}, {"surface": None, "class_version": 2}, {"surface": "page", "class_version": 2}]
        )
    ]
    _, batches = folded([listed, *casts])
    details = [batch.timeline["alpha"][0][9] for batch in batches[1:]]
    assert details == [
        {"choice": "ship"},
        {"choice": "ship"},
        {"choice": "ship", "surface": "page"},
    ]
