"""add-checkpoint's decisions: for random logs and random witness histories a checkpoint is
cosigned iff it extends the one the witness cosigned before, and two requests checked together
never roll the witness back."""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given

from api.witness.protocol import format_add_checkpoint
from api.witness.state import TreeHead, WitnessState
from api.witness.witness import (
    InconsistentProof,
    Malformed,
    NotSignedByLog,
    Refusal,
    SizeConflict,
    UnknownOrigin,
    Witness,
)
from projections.audit.cosignature import CosignatureVerifier, Cosigner
from projections.audit.signed_note import generate_signer
from tests.api.witness.tlog import TestLog
from tests.strategies import witness_histories

COSIGNER = Cosigner("witness.example/w1", Ed25519PrivateKey.generate())
VERIFIER = CosignatureVerifier.from_verifier_key(COSIGNER.verifier_key)
SHM = Path("/dev/shm")  # noqa: S108 - only the parent of a mkdtemp folder, never a file name
MEMORY_FOLDER = SHM if SHM.is_dir() else None
"""Where fsync is free: the property test is about decisions (durability has its own tests)."""


def expected_status(
    stored: tuple[int, list[bytes] | None], old: int, size: int, leaves: list[bytes] | None
) -> int:
    """The spec's decision, from the leaves themselves (no Merkle code): the witness's head
    (size s over leaves L) is extended by (size n over leaves M) iff L[:s] == M[:s]. None
    stands for a submission that shows no tree (a root of no tree, or a tampered proof): it
    extends nothing, though from size 0 there is nothing to check."""
    s, stored_leaves = stored
    if old > size:
        return 400
    if old != s:
        return 409
    extends = stored_leaves is not None and leaves is not None and stored_leaves[:s] == leaves[:s]
    if old == size:
        return 200 if extends else 409
    if old == 0:
        return 200
    return 200 if extends else 422


@given(witness_histories)
def test_a_checkpoint_is_cosigned_iff_it_extends_the_last_one(
    history: tuple[list[bytes], int, list[tuple[int | None, int, str]]],
) -> None:
    """Every submission's status is the spec's; a 200's cosignature verifies on the checkpoint;
    the stored head is the last one cosigned."""
    leaves, fork_at, submissions = history
    forked_leaves = leaves[:fork_at] + [leaf + b"\x00forked" for leaf in leaves[fork_at:]]
    real = TestLog(leaves)
    fork = TestLog(forked_leaves)
    fork.signer = real.signer  # the log's key signs both histories
    with tempfile.TemporaryDirectory(dir=MEMORY_FOLDER) as folder:
        state = WitnessState(Path(folder) / "w.db")
        witness = Witness(COSIGNER, [real.verifier_key], state, clock=lambda: 42)
        stored: tuple[int, list[bytes] | None] = (0, [])
        stored_root = real.root(0)
        for i, (old_or_none, size, variant) in enumerate(submissions):
            old = stored[0] if old_or_none is None else old_or_none
            tlog = fork if variant == "forked" else real
            history_leaves: list[bytes] | None = forked_leaves if variant == "forked" else leaves
            root, proof = tlog.root(size), tlog.proof(old, size)
            if variant == "bogus root":
                root, history_leaves = hashlib.sha256(b"no tree %d" % i).digest(), None
            if variant == "tampered proof" and proof:
                proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
                history_leaves = None  # its proof now shows nothing (it is never empty here)
            expected = expected_status(stored, old, size, history_leaves)
            conflict_size = None
            try:
                line = witness.add_checkpoint(tlog.request(old, size, root=root, proof=proof))
                status = 200
            except Refusal as refusal:
                status = refusal.status
                conflict_size = refusal.size if isinstance(refusal, SizeConflict) else None
            assert conflict_size == (stored[0] if status == 409 else None)
            assert status == expected, (old, size, variant, stored[0])
            if status == 200:
                text = tlog.note(size, root).rpartition("\n\n")[0] + "\n"
                assert VERIFIER.verify(text, line) == 42
                stored, stored_root = (size, history_leaves), root
            assert state.latest(real.origin) == TreeHead(stored[0], stored_root)


class CheckedTogether(WitnessState):
    """A real state file whose reads wait for each other: every request is checked against the
    same head before any of them writes (the window of tlog-witness's race, held open)."""

    def __init__(self, path: Path, requests: int) -> None:
        super().__init__(path)
        self.barrier = threading.Barrier(requests)

    def latest(self, origin: str) -> TreeHead:
        head = super().latest(origin)
        self.barrier.wait(timeout=10)
        return head


@pytest.mark.parametrize("order", ["N first", "N+K first"])
def test_two_requests_checked_together_never_roll_back(
    tmp_path: Path, tlog: TestLog, order: str
) -> None:
    """Sizes N and N+K from the same old size, checked together: exactly one is cosigned, the
    other is a 409 naming it, and the stored head is the cosigned one."""
    state = CheckedTogether(tmp_path / "w.db", requests=2)
    witness = Witness(COSIGNER, [tlog.verifier_key], state)
    state.barrier = threading.Barrier(1)
    witness.add_checkpoint(tlog.request(0, 10))
    state.barrier = threading.Barrier(2)
    sizes = [20, 30] if order == "N first" else [30, 20]
    outcomes: dict[int, int | str] = {}
    details: dict[int, str] = {}

    def submit(size: int) -> None:
        try:
            witness.add_checkpoint(tlog.request(10, size))
            outcomes[size] = "cosigned"
        except SizeConflict as conflict:
            outcomes[size] = conflict.size
            details[size] = str(conflict)

    threads = [threading.Thread(target=submit, args=(size,)) for size in sizes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    [winner] = [size for size, outcome in outcomes.items() if outcome == "cosigned"]
    [loser] = [size for size in sizes if size != winner]
    assert outcomes[loser] == winner
    assert details == {loser: f"the witness has since cosigned size {winner}"}
    state.barrier = threading.Barrier(1)
    assert state.latest(tlog.origin) == TreeHead(winner, tlog.root(winner))


def refusal(witness: Witness, body: bytes) -> Refusal:
    """What `witness` refuses `body` with; the head it stored is unchanged."""
    before = witness.state.latest("verdict.example/log")
    with pytest.raises(Refusal) as refused:
        witness.add_checkpoint(body)
    assert witness.state.latest("verdict.example/log") == before
    assert str(refused.value) == refused.value.detail
    return refused.value


def test_each_refusal_says_what_is_wrong(
    witness: Witness, tlog: TestLog, caplog: pytest.LogCaptureFixture
) -> None:
    """Every refusal's class and whole detail; a fork or a failed proof is logged at warning
    with the origin, the sizes and the note sent, a plain stale size is not."""
    other = TestLog([b"x"] * 4, origin="other.example/log")
    impostor = tlog.note(10, signer=generate_signer(tlog.origin)[0])
    cases: list[tuple[bytes, type[Refusal], str]] = [
        (
            b"old x\n\n" + tlog.note(4).encode(),
            Malformed,
            "first line must be 'old <decimal size>', got 'old x'",
        ),
        (
            other.request(0, 4),
            UnknownOrigin,
            "this witness does not follow a log with origin 'other.example/log'",
        ),
        (
            format_add_checkpoint(0, [], impostor),
            NotSignedByLog,
            "no signature by a key this witness trusts for 'verdict.example/log'",
        ),
        (tlog.request(12, 11, proof=[]), Malformed, "old size 12 is above the checkpoint size 11"),
        (tlog.request(5, 10), SizeConflict, "old size 5 is not 0, last cosigned"),
    ]
    for body, kind, detail in cases:
        refused = refusal(witness, body)
        assert (type(refused), refused.detail) == (kind, detail)
    witness.add_checkpoint(tlog.request(0, 10))
    forked = tlog.request(10, 10, root=b"f" * 32)
    wrong_root = tlog.request(10, 20, root=tlog.root(21))
    with caplog.at_level("WARNING", logger="verdict.witness"):
        cases = [
            (forked, SizeConflict, "size 10 was cosigned with another root"),
            (
                tlog.request(10, 10, proof=tlog.proof(4, 10)),
                InconsistentProof,
                "the proof from size 10 to itself is empty",
            ),
            (wrong_root, InconsistentProof, "the proof does not show size 20 extends size 10"),
            (tlog.request(3, 20), SizeConflict, "old size 3 is not 10, last cosigned"),
        ]
        for body, kind, detail in cases:
            refused = refusal(witness, body)
            assert (type(refused), refused.detail) == (kind, detail)
    assert [r.getMessage() for r in caplog.records if r.name == "verdict.witness"] == [
        f"fork: verdict.example/log size 10 has another root: {tlog.note(10, root=b'f' * 32)!r}",
        f"inconsistent: verdict.example/log from 10 to 20: {tlog.note(20, root=tlog.root(21))!r}",
    ]


def test_any_trusted_key_of_the_origin_may_sign_and_a_broken_one_names_itself(
    tmp_path: Path, tlog: TestLog
) -> None:
    """A log may have several keys: a note signed by the second is cosigned (the first, which
    did not sign, is passed over); a broken signature by a trusted key refuses the note, the
    detail naming that key."""
    rotated = generate_signer(tlog.origin)[0]
    keys = [rotated.verifier_key, tlog.verifier_key]
    witness = Witness(COSIGNER, keys, WitnessState(tmp_path / "w.db"), clock=lambda: 7)
    good = tlog.note(10)
    head, _, b64 = good[:-1].rpartition(" ")
    broken = f"{head} {b64[:10]}{'A' if b64[10] != 'A' else 'B'}{b64[11:]}\n"
    refused = refusal(witness, format_add_checkpoint(0, [], broken))
    key_id = tlog.verifier_key.split("+")[1]
    assert (type(refused), refused.detail) == (
        NotSignedByLog,
        f"invalid signature for key verdict.example/log+{key_id}",
    )
    line = witness.add_checkpoint(tlog.request(0, 10))
    assert VERIFIER.verify(good.rpartition("\n\n")[0] + "\n", line) == 7
