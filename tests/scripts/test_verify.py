"""scripts/verify.py against a real `verdict serve`, on SQLite and PostgreSQL: it passes on an
honest ledger and fails, naming the first bad leaf, on every edit made behind the log's back."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.application import Ledger
from domain.errors import UnknownBallot
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit.signed_note import format_checkpoint, signer_from_private_bytes
from tests.scripts.serving_audit import (
    DEMO_EVENTS,
    SLUGS,
    EventTable,
    Served,
    editorial_changes,
    load_verifier,
    random_votes,
    serving,
    settle,
    verdict_line,
    verify,
)


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[Served]:
    with serving(settings, tmp_path / "serve.log") as service:
        yield service


def test_passes_on_the_demo_data_and_after_random_votes(served: Served) -> None:
    """Demo data, then editorial changes and 300 random votes: OK, exit 0, every check run."""
    code, out = verify(served.url)
    assert code == 0, out
    assert verdict_line(out).startswith(f"VERDICT: OK — {DEMO_EVENTS} events")
    assert "TRUSTING THE KEY FROM THE SOURCE UNDER AUDIT" in out
    editorial_changes(served)
    size = settle(served, random_votes(served, 300))
    with served.http() as http:
        key = http.get("/v1/audit/public-key").json()["verifier_key"]
    code, out = verify(served.url, "--public-key", key, "--page", "97")
    assert code == 0, out
    assert verdict_line(out).startswith("VERDICT: OK")
    assert "WARNING" not in out
    assert "6 tools replayed; 6 match the score pages" in out
    assert "6/6 tool pages" in out
    code, out = verify(served.url, "--json")
    report = json.loads(out)
    assert (code, report["ok"], report["failures"]) == (0, True, [])
    assert report["events"] >= size


def _ballots(served: Served) -> None:
    """A few votes to tamper with: casts, a change, a retraction."""
    random_votes(served, 12, voters=3, seed=7)


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [
        ("flip_one_byte", "event changed"),
        ("break_one_byte", "state unreadable"),
        ("delete", "event missing"),
        ("swap", "event changed"),
    ],
)
def test_tampering_is_found_at_the_first_bad_leaf(served: Served, tamper: str, kind: str) -> None:
    """One byte changed, one unparseable, one event deleted, two events' states swapped: exit 1,
    and the verdict names the first bad leaf, its log position and the kind of fault."""
    _ballots(served)
    table = EventTable(served.settings)
    ballots = table.positions("Ballot.Cast")
    settle(served, table.positions("")[-1])
    target = ballots[1]
    if tamper == "flip_one_byte":
        target = next(p for p in ballots if b'"choice":"skip"' in table.state(p))
        state = table.state(target)
        table.set_state(target, state.replace(b'"choice":"skip"', b'"choice":"ship"'))
    elif tamper == "break_one_byte":
        table.set_state(target, b"!" + table.state(target)[1:])
    elif tamper == "delete":
        table.delete(target)
    else:
        later = ballots[-1]
        first_state, later_state = table.state(target), table.state(later)
        table.set_state(target, later_state)
        table.set_state(later, first_state)
    with served.http() as http:
        index = http.get("/v1/audit/proofs/inclusion", params={"position": target}).json()
    code, out = verify(served.url)
    assert code == 1, out
    line = verdict_line(out)
    assert line.startswith(
        f"VERDICT: FAILED — first bad leaf {index['leaf_index']} (log position {target}): {kind}"
    ), out


def test_an_altered_checkpoint_is_refused(served: Served) -> None:
    """The latest signed checkpoint rewritten in the database (another root): bad signature."""
    table = EventTable(served.settings)
    table.run(
        "UPDATE audit_checkpoints SET note = REPLACE(note, ?, ?) WHERE size = ?",
        (f"\n{DEMO_EVENTS}\n", f"\n{DEMO_EVENTS - 1}\n", DEMO_EVENTS),
    )
    code, out = verify(served.url)
    assert code == 1, out
    assert verdict_line(out).startswith("VERDICT: FAILED — BAD SIGNATURE"), out


def test_an_altered_log_record_is_localised_to_a_checkpoint(served: Served) -> None:
    """The log's own recorded leaf hash changed: the recorded hashes miss the signed root, and
    the verdict says which checkpoint and which range of leaves."""
    table = EventTable(served.settings)
    [(hashes,)] = table.run("SELECT hashes FROM audit_leaf_chunks WHERE chunk = 0")
    hashes = bytes(hashes)  # leaf 7's recorded hash is bytes 7 * 32 .. 8 * 32 of chunk 0
    altered = hashes[: 7 * 32] + bytes(32) + hashes[8 * 32 :]
    [(serving,)] = table.run("SELECT serving FROM view_generations WHERE name = 'audit'")
    # `audit_leaf_chunks` is a view of the serving generation's table: alter the table.
    chunks = f"audit_leaf_chunks_g{int(serving)}"
    table.run(f"UPDATE {chunks} SET hashes = ? WHERE chunk = 0", (altered,))  # noqa: S608 - ours
    code, out = verify(served.url)
    assert code == 1, out
    assert verdict_line(out).startswith(
        f"VERDICT: FAILED — the recorded leaf hashes do not reproduce the signed root of size "
        f"{DEMO_EVENTS}: the log's records (or the export) were altered within leaves "
        f"0..{DEMO_EVENTS - 1}"
    ), out
    assert f"first bad leaf 7 (log position {table.positions('')[7]}): event changed" in out


@pytest.mark.slow
def test_passes_after_five_thousand_random_votes(tmp_path: Path) -> None:
    """5,000 random votes and retractions by 200 voters through the application service, then
    `verdict serve` catches up and signs: OK, every figure matching. 5,000 votes store some
    3,300 events (a repeated choice stores none): past the verifier's batch of leaves to its
    worker (asserted), ~50 leaf chunks, a few hundred ballots per tool; 10,000 (6,370 events)
    crossed no other boundary (the default export page is 10,000 lines) at twice the cost."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    ledger = Ledger(settings)
    try:
        seed_demo(ledger)
        rng = random.Random(10_000)
        for _ in range(5_000):
            slug, voter = rng.choice(SLUGS), f"voter:{rng.randrange(200)}"
            try:
                if rng.random() < 0.15:
                    ledger.vote(slug, voter, None)
                else:
                    ledger.vote(slug, voter, rng.choice(("ship", "skip")))
            except UnknownBallot:
                pass
        last = ledger.recorder.max_notification_id() or 0
    finally:
        ledger.close()
    assert last > load_verifier().WORKER_BATCH
    with serving(settings, tmp_path / "serve.log") as served:
        size = settle(served, last)
        code, out = verify(served.url, "--json")
    report = json.loads(out)
    assert (code, report["ok"], report["failures"]) == (0, True, []), out
    assert report["events"] == size == last


def test_a_kept_checkpoint_must_still_be_extended(served: Served, tmp_path: Path) -> None:
    """An auditor's earlier checkpoint (--known) is checked against the grown log; a second tree
    of the same size signed with the ledger's own key is called a fork."""
    kept = tmp_path / "kept.txt"
    with served.http() as http:
        kept.write_text(http.get("/v1/audit/checkpoint").text)
    settle(served, random_votes(served, 20))
    code, out = verify(served.url, "--known", str(kept))
    assert code == 0, out
    assert "known       1 checkpoint(s) kept from before, signatures valid" in out
    raw = EventTable(served.settings).run(
        "SELECT value FROM ledger_secrets WHERE name = ?", ("checkpoint-ed25519",)
    )[0][0]
    signer = signer_from_private_bytes(served.settings.log_origin, bytes(raw))
    forged = tmp_path / "forged.txt"
    root = hashlib.sha256(b"another history").digest()
    forged.write_text(signer.sign(format_checkpoint(signer.name, DEMO_EVENTS, root)))
    code, out = verify(served.url, "--known", str(forged))
    assert code == 1, out
    assert verdict_line(out).startswith(
        f"VERDICT: FAILED — FORK: the ledger now signs another tree of size {DEMO_EVENTS}"
    )


def test_a_tool_no_event_lists_is_reported(served: Served) -> None:
    """The event that listed a tool deleted behind the log's back: its leaf is missing, and the
    tool the score pages still publish is one no event lists."""
    table = EventTable(served.settings)
    listed = table.positions("Tool.Listed")[-1]
    state = json.loads(table.state(listed))
    table.delete(listed)
    code, out = verify(served.url)
    assert code == 1, out
    assert f"tool {state['tool']!r} is published at size {DEMO_EVENTS}; no event lists it" in out
