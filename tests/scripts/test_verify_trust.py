"""scripts/verify.py's trust checks, function by function: cosignatures (against the cosigner
of tests/scripts/c2sp.py, written from C2SP tlog-cosignature, not from the code under test), the
remembered checkpoint and the fork decision, signed promises, offline tlog-proofs. Notes and
proofs are made with the service's own signed_note and merkle modules, so the two
implementations check each other."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.audit import merkle
from projections.audit.signed_note import (
    NoteSigner,
    format_checkpoint,
    generate_signer,
    time_extension,
)
from tests.scripts.c2sp import NOW, Cosigner, format_tlog_proof
from tests.scripts.serving_audit import load_verifier
from tests.strategies import fork_cases, hashes, key_names, tlog_proofs
from tests.vectors import SIGNED_NOTES

verify = load_verifier()
ORIGIN = "verdict-ledger.test/log"


def _log(name: str = ORIGIN) -> NoteSigner:
    return generate_signer(name)[0]


def _checkpoint(log: NoteSigner, size: int, root: bytes) -> str:
    return log.sign(format_checkpoint(log.name, size, root, [time_extension(datetime.now(UTC))]))


def _key(log: NoteSigner) -> Any:
    return verify.parse_verifier_key(log.verifier_key)


def _tree(leaves: list[bytes]) -> merkle.MemoryNodes:
    return merkle.MemoryNodes.of(leaves)


def _leaves(n: int, seed: str = "") -> list[bytes]:
    return [merkle.leaf_hash(f"{seed}{i}".encode()) for i in range(n)]


def _report() -> Any:
    return verify.Report("test")


# -- the published note vectors (golang.org/x/mod/sumdb/note, C2SP) -------------------------------

VECTORS = SIGNED_NOTES


def test_the_verifiers_notes_open_the_published_vectors() -> None:
    """Go's Peter Neumann note and C2SP's example open with their keys; with two signers each key
    finds its own line and skips the other; Enoch's key finds none in Peter's note."""
    peter, enoch = (
        verify.parse_verifier_key(VECTORS[k]) for k in ("peter_verifier_key", "enoch_verifier_key")
    )
    assert verify.open_note(VECTORS["peter_signed_note"], peter) == VECTORS["text"]
    both = (
        VECTORS["text"] + "\n" + VECTORS["peter_signature_line"] + VECTORS["enoch_signature_line"]
    )
    assert verify.open_note(both, peter) == verify.open_note(both, enoch) == VECTORS["text"]
    with pytest.raises(verify.Untrusted, match="no signature by key EnochRoot"):
        verify.open_note(VECTORS["peter_signed_note"], enoch)
    example = verify.parse_verifier_key(VECTORS["c2sp_example_verifier_key"])
    assert (
        verify.open_note(VECTORS["c2sp_example_note"], example) == "This is an example message.\n"
    )


def test_the_verifier_refuses_the_published_bad_notes_and_keys() -> None:
    """Go's mangled signature is a BAD SIGNATURE; its malformed notes, 101 signature lines and
    its wrong-length or unknown-algorithm keys are refused."""
    peter = verify.parse_verifier_key(VECTORS["peter_verifier_key"])
    with pytest.raises(verify.Untrusted, match="BAD SIGNATURE by PeterNeumann"):
        verify.open_note(VECTORS["bad_signature_note"], peter)
    for note in VECTORS["malformed_notes"]:
        with pytest.raises(verify.Untrusted):
            verify.open_note(note, peter)
    many = VECTORS["text"] + "\n" + VECTORS["peter_signature_line"] * 101
    with pytest.raises(verify.Untrusted, match="more than 100"):
        verify.open_note(many, peter)
    sixteen = VECTORS["text"] + "\n" + VECTORS["peter_signature_line"] * 16
    assert verify.open_note(sixteen, peter) == VECTORS["text"]
    for vkey in VECTORS["bad_verifier_keys"]:
        with pytest.raises(verify.Untrusted):
            verify.parse_verifier_key(vkey)


# -- cosignatures ---------------------------------------------------------------------------------


@given(key_names, key_names, st.integers(0, 2**40), hashes, st.integers(0, 2**63 - 1))
def test_cosignatures_of_an_independent_cosigner_verify(
    w1: str, w2: str, size: int, root: bytes, timestamp: int
) -> None:
    """Lines made by the spec cosigner verify, with their timestamps; a changed timestamp or a
    changed note text does not; a witness not given is ignored, one given twice counts once."""
    log, a, b = _log(), Cosigner(w1), Cosigner(w2)
    note = b.cosign(a.cosign(_checkpoint(log, size, root), timestamp), timestamp // 2)
    keys = [verify.parse_witness_key(c.vkey) for c in (a, b)]
    valid, bad = verify.cosignatures(note, keys)
    assert bad == []
    assert [(c.witness, c.timestamp) for c in valid] == [
        (f"{w1}+{a.key_id.hex()}", timestamp),
        (f"{w2}+{b.key_id.hex()}", timestamp // 2),
    ]
    assert verify.cosignatures(note, keys[:1])[0] == valid[:1]
    assert verify.cosignatures(note, verify.distinct_witnesses(keys[:1] * 3))[0] == valid[:1]
    assert verify.open_checkpoint(note, _key(log)).size == size
    label = f"BAD COSIGNATURE by {w1}+{a.key_id.hex()}"
    line = a.line(note, timestamp)
    raw = base64.b64decode(line.split(" ")[2])
    claimed = raw[:4] + (timestamp ^ 1).to_bytes(8, "big") + raw[12:]  # signed another time
    lying = note.replace(line, f"\u2014 {w1} {base64.b64encode(claimed).decode()}\n")
    assert verify.cosignatures(lying, keys[:1]) == ([], [label])
    other_text = _checkpoint(log, size + 1, root)
    moved = other_text + a.line(note, timestamp)  # a cosignature of another checkpoint
    assert verify.cosignatures(moved, keys[:1]) == ([], [label])


def test_witness_keys_are_type_4_and_log_keys_type_1() -> None:
    """A cosigning key is not a log key and the other way round; a key id that is not the
    name and key's is refused."""
    log, witness = _log(), Cosigner("witness.test/w1")
    assert verify.parse_witness_key(witness.vkey).key_id == witness.key_id
    with pytest.raises(verify.Untrusted, match="type 0x04"):
        verify.parse_witness_key(log.verifier_key)
    with pytest.raises(verify.Untrusted, match="type 0x01"):
        verify.parse_verifier_key(witness.vkey)
    name, _, material = witness.vkey.split("+", 2)
    with pytest.raises(verify.Untrusted, match="does not match"):
        verify.parse_witness_key(f"{name}+{'0' * 8}+{material}")


@pytest.mark.parametrize(
    ("signed_by", "quorum", "valid"), [(2, 2, True), (1, 2, False), (1, 1, True)]
)
def test_a_checkpoint_counts_only_with_a_quorum(signed_by: int, quorum: int, valid: bool) -> None:
    """K valid cosignatures by distinct given witnesses; fewer fails, naming how many."""
    witnesses = [Cosigner(f"w{i}.test") for i in range(3)]
    note = _checkpoint(_log(), 5, bytes(32))
    for w in witnesses[:signed_by]:
        note = w.cosign(w.cosign(note, NOW), NOW + 1)  # twice: still one witness
    report = _report()
    keys = [verify.parse_witness_key(w.vkey) for w in witnesses]
    checkpoint = verify.Checkpoint(ORIGIN, 5, bytes(32), "?", note)
    verify.check_quorum(checkpoint, keys, quorum, report)
    assert report.failures == []
    if valid:
        assert report.trust == []
    else:
        assert report.trust == [
            f"QUORUM NOT MET: {signed_by} valid cosignature(s) of the {quorum} required "
            f"(3 witness(es) given) on the checkpoint of size 5: w0.test+"
            f"{witnesses[0].key_id.hex()} at {verify.utc(NOW)}"
        ]


# -- the remembered checkpoint --------------------------------------------------------------------


@given(fork_cases)
def test_a_tree_extends_the_remembered_one_iff_its_prefix_is_unchanged(
    case: tuple[int, int, int | None],
) -> None:
    """Remembered: log A at size m. Served: log B (A, or A with one leaf changed) at size n,
    with B's own consistency proof. Not a fork iff m <= n and no leaf below m changed."""
    n, m, changed = case
    a = _leaves(max(m, n))
    b = list(a[:n])
    if changed is not None:
        b[changed] = merkle.leaf_hash(b"another event")
    nodes_a, nodes_b = _tree(a), _tree(b)
    remembered = verify.TreeHead(m, merkle.root(m, nodes_a))
    served = verify.TreeHead(n, merkle.root(n, nodes_b))
    proof = merkle.consistency_proof(m, n, nodes_b) if 0 < m < n else []
    reason = verify.fork_reason(remembered, served, proof)
    extends = m <= n and (changed is None or changed >= m)
    assert (reason is None) == extends, reason
    if 0 < m < n:
        assert verify.fork_reason(remembered, served, None) is not None  # no proof, no trust


def test_fork_reasons_name_what_was_found() -> None:
    """Smaller, same size with another root, a proof that fails."""
    head = verify.TreeHead
    one, two = merkle.leaf_hash(b"1"), merkle.leaf_hash(b"2")
    assert verify.fork_reason(head(3, one), head(2, one), []) == (
        "the log is now smaller than the tree remembered"
    )
    assert verify.fork_reason(head(3, one), head(3, two), []) == "another root at the same size"
    assert verify.fork_reason(head(3, one), head(3, one), []) is None
    assert verify.fork_reason(head(0, merkle.EMPTY_ROOT), head(9, two), None) is None
    assert verify.fork_reason(head(1, one), head(2, two), [two]) == (
        "the consistency proof between them does not verify"
    )


def test_the_state_file_is_one_per_origin_under_the_cache_folder(tmp_path: Path) -> None:
    """$XDG_CACHE_HOME when absolute, else ~/.cache; the origin escaped into one file name."""
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    path = verify.default_state_path("log.example/a b/../c", env)
    assert path.parent == tmp_path / "verdict-ledger" / "verify"
    assert path.name == "log.example%2Fa%20b%2F..%2Fc.json"
    relative = verify.default_state_path("x", {"XDG_CACHE_HOME": "relative/cache"})
    assert relative == Path.home() / ".cache" / "verdict-ledger" / "verify" / "x.json"


def test_the_state_is_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved then loaded: the same tree head and note. A save that fails before its rename
    leaves the old state and no temporary file; an unreadable state stops the run."""
    log = _log()
    path = tmp_path / "deep" / "state.json"
    first = verify.open_checkpoint(_checkpoint(log, 3, bytes(32)), _key(log))
    assert verify.load_state(path) is None
    verify.save_state(path, first)
    kept = verify.load_state(path)
    assert (kept.origin, kept.head, kept.note) == (
        ORIGIN,
        verify.TreeHead(3, bytes(32)),
        first.note,
    )

    def crash(*_: Any) -> None:
        raise OSError("disk full")

    second = verify.Checkpoint(ORIGIN, 4, bytes(31) + b"\x01", "?", first.note)
    monkeypatch.setattr(verify.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        verify.save_state(path, second)
    assert verify.load_state(path) == kept
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]
    path.write_text('{"format": "verdict-ledger-verify-state/1", "size": -1}')
    with pytest.raises(verify.Unavailable, match="unreadable"):
        verify.load_state(path)


def test_the_memory_never_rolls_back(tmp_path: Path) -> None:
    """A run that verified a smaller tree than a run alongside it remembered keeps the larger."""
    path, report = tmp_path / "state.json", _report()
    big = verify.Checkpoint(ORIGIN, 10, bytes(32), "?", "note 10")
    verify.remember(path, big, report)
    verify.remember(path, verify.Checkpoint(ORIGIN, 5, bytes(32), "?", "note 5"), report)
    assert verify.load_state(path).head.size == 10
    assert report.lines[-1].endswith(f"kept the larger size 10 remembered in {path}")
    verify.remember(path, verify.Checkpoint(ORIGIN, 12, bytes(32), "?", "note 12"), report)
    assert verify.load_state(path).note == "note 12"


# -- signed promises ------------------------------------------------------------------------------


def _promise(log: NoteSigner, by: str, lines: list[tuple[int, bytes]], origin: str = "") -> str:
    body = [origin or log.name, "verdict-ledger/promise/v1", f"by {by}"]
    body += [f"{p} {base64.b64encode(h).decode()}" for p, h in lines]
    return log.sign("".join(line + "\n" for line in body))


@given(st.lists(st.integers(1, 2**40), min_size=1, max_size=64, unique=True), st.data())
def test_promises_signed_by_the_log_open(positions: list[int], data: st.DataObject) -> None:
    """Any 1 to 64 ascending (position, leaf hash) lines open with the log key, as signed."""
    log = _log()
    lines = [(p, data.draw(hashes)) for p in sorted(positions)]
    promise = verify.open_promise(_promise(log, "2026-12-01T10:00:05Z", lines), _key(log))
    assert promise.leaves == tuple(lines)
    assert promise.by == datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("by", "lines", "origin", "problem"),
    [
        ("2026-12-01T10:00:05Z", [(2, bytes(32)), (1, bytes(32))], "", "not ascending"),
        ("2026-12-01T10:00:05Z", [(i, bytes(32)) for i in range(1, 66)], "", "more than 64"),
        ("2026-12-01T10:00:05Z", [], "", "not a verdict-ledger/promise/v1"),
        ("2026-12-01 10:00:05", [(1, bytes(32))], "", "not a UTC time"),
        ("2026-12-01T10:00:05Z", [(1, bytes(31))], "", "is not '<position> <leaf hash>'"),
        ("2026-12-01T10:00:05Z", [(1, bytes(32))], "other.test/log", "is not the key name"),
    ],
)
def test_malformed_promises_are_refused(
    by: str, lines: list[tuple[int, bytes]], origin: str, problem: str
) -> None:
    """Signed by the log key, but not a promise as docs/audit.md defines it."""
    log = _log()
    with pytest.raises(verify.Untrusted, match=problem):
        verify.open_promise(_promise(log, by, lines, origin), _key(log))


def test_a_promise_signed_by_another_key_is_refused() -> None:
    """Same name, another key: no signature by the log key."""
    note = _promise(_log(), "2026-12-01T10:00:05Z", [(1, bytes(32))])
    with pytest.raises(verify.Untrusted, match="no signature by key"):
        verify.open_promise(note, verify.parse_verifier_key(_log().verifier_key))


def test_a_promise_is_broken_when_due_and_absent_or_when_another_leaf_is_there() -> None:
    """Kept: the leaf is there. Pending: absent, not yet due. Broken: absent and due, or
    another leaf at the position whenever."""
    log, leaf = _log(), merkle.leaf_hash(b"vote")
    by = datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)
    note = _promise(log, "2026-12-01T10:00:05Z", [(7, leaf)])
    promise = verify.open_promise(note, _key(log))
    receipt = verify.Receipt(7, leaf, note)
    before, after = by - timedelta(seconds=1), by + timedelta(seconds=1)
    assert verify.promise_verdict(promise, receipt, leaf, after) is None
    assert verify.promise_verdict(promise, receipt, None, before) is None
    assert verify.promise_verdict(promise, receipt, None, by) is None
    assert "was promised by 2026-12-01T10:00:05Z and is not in the log" in str(
        verify.promise_verdict(promise, receipt, None, after)
    )
    assert "holds another leaf" in str(verify.promise_verdict(promise, receipt, bytes(32), before))


def test_a_receipt_is_the_whole_answer_or_the_receipt_itself(tmp_path: Path) -> None:
    """Both shapes load; one without a signed promise, or of a write that recorded nothing, is a
    usage error."""
    leaf = base64.b64encode(merkle.leaf_hash(b"x")).decode()
    receipt = {"position": 3, "leaf_hash": leaf, "promise": "note"}
    path = tmp_path / "r.json"
    for doc in ({"choice": "ship", "receipt": receipt}, receipt):
        path.write_text(json.dumps(doc))
        assert verify.load_receipt(str(path)) == verify.Receipt(3, merkle.leaf_hash(b"x"), "note")
    path.write_text(json.dumps({"receipt": {"position": 3, "leaf_hash": leaf}}))
    with pytest.raises(ValueError, match="no signed promise"):
        verify.load_receipt(str(path))
    path.write_text(json.dumps({"receipt": {"position": None, "leaf_hash": None}}))
    with pytest.raises(ValueError, match="recorded no event"):
        verify.load_receipt(str(path))


# -- offline proofs (C2SP tlog-proof@v1) ----------------------------------------------------------


@given(tlog_proofs)
def test_tlog_proofs_parse_back_to_their_parts(parts: dict[str, Any]) -> None:
    """parse(format(parts)) == parts, extra line or not."""
    parsed = verify.parse_tlog_proof(format_tlog_proof(**parts))
    assert (parsed.index, parsed.proof, parsed.checkpoint, parsed.extra) == (
        parts["index"],
        parts["proof"],
        parts["checkpoint"],
        parts["extra"],
    )


@given(st.text() | tlog_proofs.map(lambda parts: format_tlog_proof(**parts)), st.integers(0, 999))
def test_garbage_is_refused_never_raised(text: str, cut: int) -> None:
    """Any text, whole or cut short, as a tlog-proof: a refusal in the report, no exception."""
    key = verify.parse_verifier_key(_log().verifier_key)
    for candidate in (text, text[:cut], text[cut:]):
        report = _report()
        verify.check_tlog_proof(candidate, bytes(32), key, [], 0, report)
        assert report.failures and report.verdict_ok is None


@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n))))
def test_a_tlog_proof_proves_its_leaf_and_nothing_else(target: tuple[int, int]) -> None:
    """The service's inclusion proof in a signed, cosigned checkpoint verifies offline; another
    leaf, another index, a stranger's signature, too few cosignatures do not."""
    index, size = target
    log, witness = _log(), Cosigner("witness.test/w")
    leaves = _leaves(size)
    nodes = _tree(leaves)
    note = witness.cosign(_checkpoint(log, size, merkle.root(size, nodes)))
    proof = tuple(merkle.inclusion_proof(index, size, nodes))
    key, wkey = _key(log), verify.parse_witness_key(witness.vkey)

    def failures(text: str, leaf: bytes, witnesses: list[Any], quorum: int) -> list[str]:
        report = _report()
        verify.check_tlog_proof(text, leaf, key, witnesses, quorum, report)
        return list(report.all_failures())

    good = format_tlog_proof(index, proof, note, b"context")
    assert failures(good, leaves[index], [wkey], 1) == []
    assert failures(good, merkle.leaf_hash(b"other"), [wkey], 1)
    if size > 1:
        assert failures(format_tlog_proof((index + 1) % size, proof, note), leaves[index], [], 0)
    stranger = _checkpoint(_log(), size, merkle.root(size, nodes))
    assert (
        "no signature by key"
        in failures(format_tlog_proof(index, proof, stranger), leaves[index], [], 0)[0]
    )
    other = verify.parse_witness_key(Cosigner("witness.test/v").vkey)
    assert failures(good, leaves[index], [wkey, other], 2)[0].startswith(
        "QUORUM NOT MET: 1 valid cosignature(s) of the 2 required"
    )


def test_an_offline_check_opens_no_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--tlog-proof reads its file and the keys given, and never builds an HTTP client."""

    def no_network(*_: Any) -> None:
        raise AssertionError("an offline check made a connection")

    monkeypatch.setattr(verify.Service, "__init__", no_network)
    monkeypatch.setattr(verify.urllib.request, "build_opener", no_network)
    log = _log()
    leaves = _leaves(3)
    nodes = _tree(leaves)
    path = tmp_path / "vote.tlog-proof"
    note = _checkpoint(log, 3, merkle.root(3, nodes))
    path.write_text(format_tlog_proof(2, tuple(merkle.inclusion_proof(2, 3, nodes)), note))
    leaf = base64.b64encode(leaves[2]).decode()
    args = ["--tlog-proof", str(path), "--leaf-hash", leaf, "--public-key", log.verifier_key]
    assert verify.main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"VERDICT: OK — leaf {leaf} is leaf 2 of the tree of size 3 signed by {ORIGIN} "
        "(offline proof)"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--tlog-proof", "p", "--leaf-hash", base64.b64encode(bytes(32)).decode()],
        ["--tlog-proof", "p", "--public-key", "k"],
        ["--leaf-hash", base64.b64encode(bytes(32)).decode(), "http://127.0.0.1:9"],
        ["http://127.0.0.1:9", "--witness", "not+a+key"],
        ["http://127.0.0.1:9", "--quorum", "1"],
        ["http://127.0.0.1:9", "--state", "s", "--no-state"],
        ["--export", "e", "--state", "s"],
        ["--export", "e", "--receipt", "r"],
        ["--export", "e", "--tlog-proof", "p"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Flags that cannot go together, a key that is not one, a quorum above the witnesses."""
    with pytest.raises(SystemExit) as stopped:
        verify.main(argv)
    assert stopped.value.code == 2
    assert "VERDICT" not in capsys.readouterr().out
