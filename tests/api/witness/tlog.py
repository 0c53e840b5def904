"""A small signed log for the witness tests: leaves, roots, consistency proofs, checkpoint notes
and add-checkpoint bodies, all from projections/audit (the log side the witness checks)."""

from __future__ import annotations

from collections.abc import Sequence

from api.witness.protocol import format_add_checkpoint
from projections.audit import merkle
from projections.audit.signed_note import NoteSigner, format_checkpoint, generate_signer


class TestLog:
    __test__ = False  # not a pytest class

    def __init__(self, leaves: Sequence[bytes], origin: str = "verdict.example/log") -> None:
        self.origin = origin
        self.signer: NoteSigner = generate_signer(origin)[0]
        self.leaves = merkle.leaf_hashes(leaves)
        self.nodes = merkle.MemoryNodes.of(self.leaves)

    @property
    def verifier_key(self) -> str:
        return self.signer.verifier_key

    def root(self, size: int) -> bytes:
        return merkle.root(size, self.nodes)

    def proof(self, old: int, size: int) -> list[bytes]:
        """The consistency proof a log sends: none from 0, RFC 9162's otherwise."""
        return merkle.consistency_proof(old, size, self.nodes) if 0 < old <= size else []

    def note(self, size: int, root: bytes | None = None, signer: NoteSigner | None = None) -> str:
        """The checkpoint of `size` (or one claiming `root`), signed by the log (or `signer`)."""
        text = format_checkpoint(self.origin, size, self.root(size) if root is None else root)
        return (signer or self.signer).sign(text)

    def request(
        self,
        old: int,
        size: int,
        root: bytes | None = None,
        proof: Sequence[bytes] | None = None,
    ) -> bytes:
        """An add-checkpoint body from `old` to `size`, honest unless told otherwise."""
        hashes = self.proof(old, size) if proof is None else proof
        return format_add_checkpoint(old, hashes, self.note(size, root))
