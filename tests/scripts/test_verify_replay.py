"""The verifier's recount (scripts/verify.py `Replay`, which imports nothing of ours) equals the
catalog's fold on the ledger's own events, voids and restores included, and reports a
moderation event that contradicts the log."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings

from domain.application import Ledger
from domain.settings import Settings
from projections.catalog.fold import fold_catalog
from projections.following.rebuild import read_events
from tests.projections.catalog.test_fold_properties import play
from tests.scripts.serving_audit import load_verifier
from tests.strategies import histories, moderated_histories

FIGURES = ("ship", "skip", "total", "ship_pct", "voided")


@given(histories | moderated_histories)
@settings(max_examples=80)
def test_recount_equals_the_catalog_fold(history: list[tuple[Any, ...]]) -> None:
    """For random histories with voids and restores: same community figures (and `voided`)
    for every tool, and no problem reported on a log the ledger wrote."""
    ledger = Ledger(Settings(database_url="sqlite:///:memory:"))
    try:
        play(ledger, history)
        events = list(read_events(ledger.recorder))
    finally:
        ledger.close()
    replay = load_verifier().Replay()
    for leaf, event in enumerate(events):
        replay.apply(leaf, json.loads(event.canonical()))
    assert replay.problems == []
    catalog = fold_catalog(events)
    assert {slug: tool.community() for slug, tool in replay.tools.items()} == {
        slug: {k: tool.document()["community"][k] for k in FIGURES}
        for slug, tool in catalog.tools.items()
    }


def _event(position: int, kind: str, **state: Any) -> dict[str, Any]:
    return {
        "originator_id": "00000000-0000-0000-0000-000000000001",
        "originator_version": position,
        "position": position,
        "state": {"tool": "t", **state},
        "topic": f"domain.x:{kind}",
    }


def test_contradicting_moderation_events_are_reported() -> None:
    """A void of a choice the voter did not make, a vote by a voided voter and a restore of a
    ballot never voided are each reported; the figures still leave the voided ballot out."""
    replay = load_verifier().Replay()
    moderated = {"reason": "r", "rule": "x", "actor": "moderator:m"}
    log = [
        _event(1, "Tool.Listed", actor="editor:e"),
        _event(2, "Ballot.Cast", choice="ship", actor="voter:a"),
        _event(3, "Ballot.Voided", voter="voter:a", previous="skip", **moderated),
        _event(4, "Ballot.Changed", choice="skip", previous="ship", actor="voter:a"),
        _event(5, "Ballot.Restored", voter="voter:b", choice="ship", **moderated),
    ]
    for leaf, event in enumerate(log):
        replay.apply(leaf, event)
    assert [p.split(":")[0] for p in replay.problems] == ["leaf 2", "leaf 3", "leaf 4"]
    assert "voided" in replay.problems[1]
    assert replay.tools["t"].community()["voided"] == 1
