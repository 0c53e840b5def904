"""The demo data reproduces the published pages' figures, through the application service."""

from __future__ import annotations

from domain.application import Ledger
from domain.demo_data import COMPARISONS, TOOLS
from domain.seeding import seed_demo
from projections.catalog.fold import fold_catalog
from projections.following.rebuild import read_events
from tests.api.routes.test_reads import PUBLISHED


def test_seed_yields_the_published_percentages(ledger: Ledger) -> None:
    """Panel ship % per tool equals the published 100, 75, 100, 100, 50, 100; no community votes."""
    seed_demo(ledger)
    catalog = fold_catalog(read_events(ledger.recorder))
    figures = {slug: t.document() for slug, t in catalog.tools.items()}
    assert {slug: d["panel"]["ship_pct"] for slug, d in figures.items()} == PUBLISHED
    assert all(d["community"]["ship_pct"] is None for d in figures.values())
    assert len(catalog.comparisons) == len(COMPARISONS) == 5
    assert len(TOOLS) == 6


def test_seeding_twice_writes_nothing_more(ledger: Ledger) -> None:
    """Seeding is idempotent: the second run writes nothing."""
    first = seed_demo(ledger)
    position = ledger.recorder.max_notification_id()
    assert first == 6 + 24 + 5
    assert seed_demo(ledger) == 0
    assert ledger.recorder.max_notification_id() == position
