"""scripts/verify.py on a log of both shapes of Ballot.Cast (docs/evolution.md): v1 bytes stored
before version 2 and v2 events after them export, verify and recount, on SQLite and PostgreSQL;
a Cast of neither shape is reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.server.cli import main
from domain.application import Ledger
from domain.rules import Surface
from domain.settings import Settings
from projections.catalog.fold import fold_catalog
from projections.following.rebuild import read_events
from tests.domain.test_ballot_evolution import FIXTURE, store_v1_log
from tests.scripts.serving_audit import load_verifier, verdict_line, verify


def test_a_mixed_version_log_exports_and_verifies(
    settings: Settings, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four v1 first votes, then v2 ones from each surface and a change of a v1 ballot: the
    export verifies, its recount is the catalog's, and the first votes are counted by surface."""
    monkeypatch.setenv("VERDICT_DATABASE_URL", settings.database_url)
    store_v1_log(ledger)
    ledger.vote("alpha", "voter:dan", "skip", Surface.API)
    ledger.vote("beta", "voter:eve", "ship", Surface.PAGE)
    ledger.vote("alpha", "voter:ann", "skip", Surface.PAGE)  # a v1 ballot, changed
    path = tmp_path / "ledger.ndjson"
    assert main(["export", str(path)]) == 0
    code, out = verify("--export", str(path))
    assert code == 0, out
    assert verdict_line(out).startswith(f"VERDICT: OK — {len(FIXTURE['events']) + 3} events"), out
    assert "first votes by surface: api 1, not recorded 4, page 1" in out, out
    assert re.search(r"alpha +listed +panel 0/0 ship \(—\), community 2/4 ship \(50 %\)", out)
    alpha = fold_catalog(read_events(ledger.recorder)).tools["alpha"].tally.figures()
    assert (alpha["ship"], alpha["total"]) == (2, 4)


def test_the_replay_reports_a_cast_of_neither_shape() -> None:
    """v1 (no class_version) and v2 (a surface or null) are counted; v2 without the field, an
    unknown version or an unknown surface are problems."""
    verifier = load_verifier()
    replay = verifier.Replay()
    listed = {"tool": "alpha", "actor": "editor:e"}
    replay.apply(0, {"topic": "domain.tool:Tool.Listed", "position": 1, "state": listed})
    casts = [
        {},
        {"class_version": 2, "surface": None},
        {"class_version": 2, "surface": "api"},
        {"class_version": 2},
        {"class_version": 3, "surface": "api"},
        {"class_version": 2, "surface": "email"},
    ]
    for i, extra in enumerate(casts, start=1):
        state = {"tool": "alpha", "actor": f"voter:{i}", "choice": "ship", **extra}
        replay.apply(i, {"topic": "domain.ballot:Ballot.Cast", "position": i + 1, "state": state})
    assert replay.surfaces == {"not recorded": 2, "api": 1}
    assert replay.problems == [
        "leaf 4: Ballot.Cast of an unknown shape (v2)",
        "leaf 5: Ballot.Cast of an unknown shape (v3)",
        "leaf 6: Ballot.Cast from surface 'email'",
    ]
