"""The drill's scenarios as tests, against real `verdict serve --workers N` processes and one
`verdict project` process per projection on PostgreSQL (scripts/drill.py says what each does):
race and bad input on several workers, and the crash drill, which restarts PostgreSQL itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.scripts.drill_harness import drill

pytestmark = [pytest.mark.slow, pytest.mark.postgres_alone]  # clusters; one restarts the server


ACKS_BETWEEN = 40
"""Votes acknowledged between two blows of the crash drill (the drill by hand lets them flow for
3-4 s): votes are in flight at every kill, and the four waits add up to > 100 acknowledged."""

REBUILD_EVENTS = 20_000
"""Ballot events in the rebuild kill's ledger (the drill by hand: 60k): four pages of the
rebuild's 5,000, so one commit past 0 with more to fold; the drill freezes (SIGSTOP) the
process while it looks, so the kill lands mid-rebuild whatever the ledger's size."""


def passed(outcome: Any) -> bool:
    """Fails with the drill's own list of failed checks."""
    assert not outcome.failures, outcome.failures
    return True


@pytest.mark.postgres
def test_race_across_two_workers_counts_exactly(postgres_url: str, tmp_path: Path) -> None:
    """300 voters x 1 tool and 1 voter x 200 parallel casts over 2 workers: exact counts. Two
    workers are already two processes racing for the same rows (this machine has 2 cores, so
    4 raced no harder), and 300 voters from 32 threads keep every worker busy with overlapping
    casts; the drill's own run keeps 1,000 over 4."""
    store = drill.Store("postgres", postgres_url)
    assert passed(drill.race(store, tmp_path, workers=2, voters=300))


@pytest.mark.postgres
def test_bad_input_is_refused_and_writes_nothing(postgres_url: str, tmp_path: Path) -> None:
    """Every hostile request gets a 4xx over 2 workers; the log does not move; nobody dies."""
    outcome = drill.bad_input(drill.Store("postgres", postgres_url), tmp_path, workers=2)
    assert passed(outcome)
    assert outcome.facts["refused"] >= 65


def test_bad_input_on_sqlite(tmp_path: Path) -> None:
    """The same hostile requests against the single SQLite process."""
    store = drill.Store("sqlite", f"sqlite:///{tmp_path}/ledger.db")
    assert passed(drill.bad_input(store, tmp_path))


@pytest.mark.postgres
def test_crash_drill_loses_no_acknowledged_vote(postgres_url: str, tmp_path: Path) -> None:
    """kill -9 an API worker, then a projection worker, then restart PostgreSQL, votes flowing:
    every 2xx receipt is in the log exactly once, the views equal a rebuild, the log verifies.
    The one test that restarts the server (quickly: it waits for pg_isready)."""
    store = drill.Store("postgres", postgres_url)
    outcome = drill.crash(store, tmp_path, workers=3, acks_between=ACKS_BETWEEN)
    assert passed(outcome)
    assert outcome.facts["acknowledged"] > 100


def test_crash_drill_on_sqlite(tmp_path: Path) -> None:
    """kill -9 the single SQLite server twice while votes flow: nothing acknowledged is lost."""
    store = drill.Store("sqlite", f"sqlite:///{tmp_path}/ledger.db")
    outcome = drill.crash(store, tmp_path, acks_between=ACKS_BETWEEN)
    assert passed(outcome)
    assert outcome.facts["acknowledged"] > 100


def test_a_projection_killed_mid_rebuild_resumes_and_switches_once(tmp_path: Path) -> None:
    """The drill's rebuild kill on SQLite (serve's supervisor restarts the killed child; the
    PostgreSQL shape is tests/api/server/test_rebuilding.py's, and the drill's by hand): the
    catalog's process killed (-9) mid-rebuild resumes its generation and switches once,
    readers answered throughout."""
    store = drill.Store("sqlite", f"sqlite:///{tmp_path}/ledger.db")
    outcome = drill.rebuild_kill(store, tmp_path, events=REBUILD_EVENTS)
    assert passed(outcome)
    assert outcome.facts["reads"] > 100


def test_disk_full_drill_on_sqlite(tmp_path: Path) -> None:
    """The SQLite file on a small tmpfs filled up while votes flow: 503 storage-full with
    Retry-After, never a 500; votes stored again once the filler is gone; nothing lost. A
    tmpfs that cannot be mounted breaks the drill off, which fails here."""
    store = drill.Store("sqlite", f"sqlite:///{tmp_path}/ledger.db")
    outcome = drill.disk_full(store, tmp_path)
    assert passed(outcome)
    assert outcome.facts["refused"] > 0
