"""scripts/verify.py's trust checks end to end, run as an auditor runs it (a subprocess): the
remembered checkpoint against a real `verdict serve` and a second ledger of the same origin (a
fork), receipts whose promises the ledger's key signed, witnesses it lacks, offline proofs. Each
exit code: 0 OK, 1 a failed verdict, 2 a usage error."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.settings import Settings
from projections.audit import merkle
from projections.audit.signed_note import (
    NoteSigner,
    format_checkpoint,
    generate_signer,
    signer_from_private_bytes,
)
from tests.conftest import fresh_postgres_database
from tests.scripts.c2sp import NOW, Cosigner, format_tlog_proof
from tests.scripts.serving_audit import (
    DEMO_EVENTS,
    EventTable,
    Served,
    first_vote,
    load_verifier,
    random_votes,
    serving,
    settle,
    verdict_line,
    verify,
)


def _state(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _another_store(settings: Settings, tmp_path: Path, stack: ExitStack) -> Settings:
    """A second, empty store of the same kind (and so, by default, the same origin)."""
    if settings.is_postgres:
        return Settings(database_url=stack.enter_context(fresh_postgres_database()))
    return Settings(database_url=f"sqlite:///{tmp_path}/other.db")


def test_the_verifier_remembers_and_calls_a_replaced_log_a_fork(
    settings: Settings, tmp_path: Path, own_cache_folder: Path
) -> None:
    """Ledger A is verified (state remembered, default file and --state FILE), grows, is
    verified again (it extends). Ledger B, same origin, other history: FORK with both tree
    heads, exit 1, whether B is smaller or larger; the state is left as it was."""
    state = tmp_path / "audit-state.json"
    default = load_verifier().default_state_path(
        settings.log_origin, {"XDG_CACHE_HOME": str(own_cache_folder)}
    )
    with serving(settings, tmp_path / "a.log") as a:
        code, out = verify(a.url, "--state", str(state))
        assert code == 0, out
        assert "nothing remembered yet" in out
        assert _state(state)["size"] == DEMO_EVENTS
        code, out = verify(a.url)  # the default state: one file per origin in the cache folder
        assert code == 0, out
        assert _state(default)["size"] == DEMO_EVENTS
        grown = settle(a, random_votes(a, 30, seed=1))
        code, out = verify(a.url, "--state", str(state))
        assert code == 0, out
        assert f"extends the checkpoint of size {DEMO_EVENTS} remembered from" in out
        remembered = _state(state)
        assert remembered["size"] >= grown > DEMO_EVENTS
    with ExitStack() as stack:
        other = _another_store(settings, tmp_path, stack)
        with serving(other, tmp_path / "b.log") as b:
            with b.http() as http:
                served_root = http.get("/v1/audit/checkpoint").text.split("\n")[2]
            code, out = verify(b.url, "--state", str(state))
            assert code == 1, out
            assert verdict_line(out).startswith(
                "VERDICT: FAILED — FORK: the log is now smaller than the tree remembered: "
                f"remembered size {remembered['size']} root {remembered['root']} (verified "
                f"{remembered['verified_at']}), served size {DEMO_EVENTS} root {served_root}"
            ), out
            assert remembered["note"].splitlines()[0] in out  # both signed notes, as evidence
            assert _state(state) == remembered
            settle(b, random_votes(b, 10, seed=2))
            code, out = verify(b.url)
            assert code == 1, out
            assert verdict_line(out).startswith(
                "VERDICT: FAILED — FORK: the consistency proof between them does not verify: "
                f"remembered size {DEMO_EVENTS}"
            ), out
            assert _state(default)["size"] == DEMO_EVENTS
            assert verify(b.url, "--no-state")[0] == 0


# -- receipts and witnesses on one ledger ---------------------------------------------------------


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One SQLite ledger for the receipt and witness runs (their logic is the verifier's, the
    store's part is the inclusion proof every store serves alike)."""
    folder = tmp_path_factory.mktemp("ledger")
    with serving(Settings(database_url=f"sqlite:///{folder}/ledger.db"), folder / "serve.log") as s:
        yield s


def _log_key(served: Served) -> NoteSigner:
    """The ledger's own signing key, read from its database: the promises below are what the
    ledger itself could sign."""
    raw = EventTable(served.settings).run(
        "SELECT value FROM ledger_secrets WHERE name = ?", ("checkpoint-ed25519",)
    )[0][0]
    return signer_from_private_bytes(served.settings.log_origin, bytes(raw))


def _promise(log: NoteSigner, by: datetime, lines: list[tuple[int, str]]) -> str:
    text = [log.name, "verdict-ledger/promise/v1", f"by {by:%Y-%m-%dT%H:%M:%SZ}"]
    return log.sign("".join(f"{line}\n" for line in text + [f"{p} {h}" for p, h in lines]))


def test_a_receipt_is_kept_pending_or_broken(ledger: Served, tmp_path: Path) -> None:
    """A vote's receipt with a promise by the ledger's key: kept (exit 0). A promise of a leaf
    the log does not hold: PENDING until its time (exit 0), BROKEN PROMISE after it, printing
    the signed promise (exit 1). A promise by another key, or not naming the receipt: exit 1.
    A file that holds no receipt: exit 2."""
    log, body = _log_key(ledger), first_vote(ledger, "ship")
    settle(ledger, body["receipt"]["position"])
    position, leaf = body["receipt"]["position"], body["receipt"]["leaf_hash"]
    now = datetime.now(UTC)
    path = tmp_path / "receipt.json"

    def run(receipt: dict[str, Any]) -> tuple[int, str]:
        path.write_text(json.dumps({**body, "receipt": receipt}))
        return verify(ledger.url, "--receipt", str(path), "--no-state")

    kept = {**body["receipt"], "promise": _promise(log, now, [(position, leaf)])}
    code, out = run(kept)
    assert code == 0, out
    assert f"position {position} is leaf " in out and "as promised by" in out

    missing = base64.b64encode(merkle.leaf_hash(b"a vote the log lost")).decode()
    lost = {"position": position + 10_000, "leaf_hash": missing}
    lines = [(position, leaf), (position + 10_000, missing)]
    later = now + timedelta(hours=1)
    code, out = run({**lost, "promise": _promise(log, later, lines)})
    assert code == 0, out
    assert f"PENDING until {later:%Y-%m-%dT%H:%M:%SZ}" in verdict_line(out), out

    earlier = now - timedelta(seconds=5)
    broken = _promise(log, earlier, lines)
    code, out = run({**lost, "promise": broken})
    assert code == 1, out
    assert verdict_line(out).startswith(
        f"VERDICT: FAILED — BROKEN PROMISE: position {position + 10_000} (leaf {missing}) was "
        f"promised by {earlier:%Y-%m-%dT%H:%M:%SZ} and is not in the log"
    ), out
    assert all(f"    {line}" in out for line in broken.splitlines() if line)

    stranger = generate_signer(log.name)[0]
    code, out = run({**kept, "promise": _promise(stranger, now, [(position, leaf)])})
    assert code == 1, out
    assert "VERDICT: FAILED — the receipt's promise is not the log's: no signature" in out
    code, out = run({**lost, "promise": _promise(log, later, [(position, leaf)])})
    assert code == 1, out
    assert "the signed promise does not name the receipt's leaf" in verdict_line(out)

    path.write_text('{"receipt": {"position": "one"}}')
    code, out = verify(ledger.url, "--receipt", str(path))
    assert code == 2 and "VERDICT" not in out, out


def test_a_checkpoint_without_the_quorum_fails_and_is_not_remembered(
    ledger: Served, own_cache_folder: Path
) -> None:
    """This ledger has no witnesses: `--witness` finds 0 valid cosignatures of 1, exit 1, and
    nothing is remembered; a quorum above the witnesses given is a usage error."""
    witness = Cosigner("witness.test/w1")
    code, out = verify(ledger.url, "--witness", witness.vkey)
    assert code == 1, out
    assert verdict_line(out).startswith(
        "VERDICT: FAILED — QUORUM NOT MET: 0 valid cosignature(s) of the 1 required "
        "(1 witness(es) given) on the checkpoint of size"
    ), out
    assert not own_cache_folder.exists()
    code, out = verify(ledger.url, "--witness", witness.vkey, "--quorum", "2")
    assert code == 2 and "--quorum must be between 0 and the 1 witness(es) given" in out


def test_witnesses_that_cosigned_the_served_checkpoint_meet_the_quorum(ledger: Served) -> None:
    """The served checkpoint given a cosignature line by w1 (written into the ledger's table, as
    the ledger keeps its witnesses' lines): --witness w1 is OK; w1 and w2 miss the quorum of 2
    and meet a quorum of 1; a line by w2 that does not verify fails whatever the quorum."""
    w1, w2 = Cosigner("witness.test/w1"), Cosigner("witness.test/w2")
    with ledger.http() as http:
        note = http.get("/v1/audit/checkpoint").text
    size = int(note.split("\n")[1])
    table = EventTable(ledger.settings)
    table.run("UPDATE audit_checkpoints SET note = ? WHERE size = ?", (w1.cosign(note), size))
    code, out = verify(ledger.url, "--witness", w1.vkey, "--no-state")
    assert code == 0, out
    assert f"1 of 1 given witnesses cosigned the checkpoint of size {size} (quorum 1)" in out
    both = ["--witness", w1.vkey, "--witness", w2.vkey, "--no-state"]
    code, out = verify(ledger.url, *both)
    assert code == 1, out
    assert verdict_line(out).startswith(
        "VERDICT: FAILED — QUORUM NOT MET: 1 valid cosignature(s) of the 2 required"
    ), out
    assert verify(ledger.url, *both, "--quorum", "1")[0] == 0
    forged = w1.cosign(note) + w2.line(note, NOW, text="another checkpoint\n")
    table.run("UPDATE audit_checkpoints SET note = ? WHERE size = ?", (forged, size))
    code, out = verify(ledger.url, *both, "--quorum", "1")
    assert code == 1, out
    assert f"BAD COSIGNATURE by witness.test/w2+{w2.key_id.hex()}" in verdict_line(out), out
    table.run("UPDATE audit_checkpoints SET note = ? WHERE size = ?", (note, size))


# -- offline proofs: no service at all ------------------------------------------------------------


def test_an_offline_proof_checks_with_no_service(tmp_path: Path) -> None:
    """A tlog-proof of a cosigned checkpoint: exit 0 with the log key and the witness; exit 1
    for another leaf, a quorum not met, or garbage; exit 2 without the log key."""
    log, witness = generate_signer("verdict-ledger.test/log")[0], Cosigner("witness.test/w1")
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(13)]
    nodes = merkle.MemoryNodes.of(leaves)
    note = witness.cosign(log.sign(format_checkpoint(log.name, 13, merkle.root(13, nodes))))
    path = tmp_path / "vote.tlog-proof"
    path.write_text(format_tlog_proof(9, tuple(merkle.inclusion_proof(9, 13, nodes)), note))
    leaf = base64.b64encode(leaves[9]).decode()
    offline = ["--tlog-proof", str(path), "--public-key", log.verifier_key]
    code, out = verify(*offline, "--leaf-hash", leaf, "--witness", witness.vkey)
    assert code == 0, out
    assert verdict_line(out) == (
        f"VERDICT: OK — leaf {leaf} is leaf 9 of the tree of size 13 signed by {log.name}, "
        "cosigned by a quorum of 1 (offline proof)"
    )
    other = base64.b64encode(leaves[8]).decode()
    code, out = verify(*offline, "--leaf-hash", other)
    assert code == 1, out
    assert "the inclusion proof of leaf" in verdict_line(out)
    code, out = verify(*offline, "--leaf-hash", leaf, "--witness", Cosigner("w2.test").vkey)
    assert code == 1 and "QUORUM NOT MET: 0 valid" in verdict_line(out), out
    path.write_text("c2sp.org/tlog-proof@v1\nindex 01\n\n" + note)
    code, out = verify(*offline, "--leaf-hash", leaf)
    assert code == 1 and "VERDICT: FAILED — not a tlog-proof" in verdict_line(out), out
    code, out = verify("--tlog-proof", str(path), "--leaf-hash", leaf)
    assert code == 2 and "needs --public-key" in out, out
