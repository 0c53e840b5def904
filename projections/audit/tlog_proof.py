"""Offline proofs in C2SP tlog-proof@v1 format (https://c2sp.org/tlog-proof): a leaf's index,
its inclusion proof and the checkpoint (with its cosignatures) that the proof leads to, in one
text a voter can keep and check years later with no service running:

    c2sp.org/tlog-proof@v1
    index 73894                       <- zero-based leaf index
    gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=   <- inclusion proof, leaf's sibling first
    ...
                                      <- blank line
    <the signed checkpoint note, verbatim, cosignatures included>

We write no `extra` line; a parser accepts one and hands it back (it is not authenticated)."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from projections.audit.signed_note import decode_canonical_base64

HEADER = "c2sp.org/tlog-proof@v1"
HASH_SIZE = 32

_INDEX = re.compile(r"index (0|[1-9][0-9]*)")


@dataclass(frozen=True, slots=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    """The signed checkpoint note, as served: text, blank line, signature lines."""
    extra: bytes | None = None


def format_tlog_proof(index: int, proof: Sequence[bytes], checkpoint: str) -> str:
    if index < 0:
        raise ValueError(f"leaf index {index} is negative")
    if any(len(h) != HASH_SIZE for h in proof):
        raise ValueError(f"proof hashes must be {HASH_SIZE} bytes")
    lines = [HEADER, f"index {index}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    return "".join(line + "\n" for line in lines) + "\n" + checkpoint


def parse_tlog_proof(text: str) -> TlogProof:
    """The parts of a tlog-proof; ValueError when it is not one. The checkpoint is returned
    unopened: the caller checks it against the keys it trusts."""
    head, blank, checkpoint = text.partition("\n\n")
    if not blank or not checkpoint:
        raise ValueError("a tlog-proof needs a blank line and a checkpoint after its proof")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise ValueError(f"a tlog-proof starts with {HEADER!r}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _b64(rest.pop(0).removeprefix("extra "), "extra data")
    index = _INDEX.fullmatch(rest[0]) if rest else None
    if index is None:
        raise ValueError("a tlog-proof names its leaf on an 'index N' line")
    proof = tuple(_b64(line, "proof hash") for line in rest[1:])
    if any(len(h) != HASH_SIZE for h in proof):
        raise ValueError(f"proof hashes must be {HASH_SIZE} bytes")
    return TlogProof(int(index[1]), proof, checkpoint, extra)


def _b64(text: str, what: str) -> bytes:
    try:
        return decode_canonical_base64(text)
    except ValueError as not_base64:
        raise ValueError(f"{what} {text[:60]!r} is {not_base64}") from None
