"""scripts/bench/catalog_costs.py and the catalogs it builds (scripts/bench/big_ledger.py
--tools): a catalog of many tools, each with a verdict in every seat and ballots on it, and a
tiny before/after run that reports every figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.application import Ledger
from domain.settings import Settings
from projections.catalog.fold import fold_catalog
from projections.following.rebuild import read_events
from tests.scripts.test_bench import ROOT, _run


def test_big_ledger_lists_many_tools_with_full_panels_and_votes_on_each(tmp_path: Path) -> None:
    """20 tools (the 6 demo ones among them), four verdicts each, and exactly 600 ballot
    events, spread so that every tool has votes."""
    db = tmp_path / "big.db"
    _run("big_ledger.py", str(db), "--tools", "20", "--events", "600", timeout=120)
    ledger = Ledger(Settings(database_url=f"sqlite:///{db}"))
    try:
        events = list(read_events(ledger.recorder))
        catalog = fold_catalog(events)
    finally:
        ledger.close()
    assert len(catalog.tools) == 20
    assert sum(e.kind.startswith("Ballot.") for e in events) == 600
    docs = [t.document() for t in catalog.tools.values()]
    assert all(d["panel"]["total"] == 4 for d in docs)
    assert all(d["community"]["total"] > 0 for d in docs)


@pytest.mark.slow
def test_a_tiny_before_and_after_run_reports_every_figure(tmp_path: Path) -> None:
    """This tree measured against itself on a 6-tool and a 12-tool ledger: votes, reads,
    server CPU and the poller's figures for each, and the ratio of each tree. One slice of 1 s
    each (after 0.5 s of warm-up): the poller refreshes every 20 ms, so the window sees many
    refreshes that moved its snapshot, and the votes are counted as over a longer window."""
    out = tmp_path / "costs.json"
    args = ["--before", str(ROOT), "--tools", "12", "--events", "300", "--duration", "1"]
    more = ["--rounds", "1", "--warmup", "0.5", "--cache", str(tmp_path), "--json", str(out)]
    printed = _run("catalog_costs.py", *args, *more, timeout=600)
    assert "votes/s 12 ÷ 6" in printed
    figures = json.loads(out.read_text())
    for tree in ("before", "after"):
        found = figures["trees"][tree]
        assert found["votes_ratio"] > 0
        for size in ("6", "12"):
            f = found["by_tools"][size]
            assert f["votes_per_s"] > 0
            assert f["read_latency_ms"]["p99"] > 0
            assert f["poller_cpu_share"] > 0
            assert f["poller_documents_per_refresh"] > 0
