"""The C2SP tlog-witness wire format, for the witness and for the log that calls it.

An add-checkpoint request body is

    old <size the witness last cosigned, decimal>
    <zero to 63 consistency proof hashes, base64, one a line>
                                      <- empty line
    <the checkpoint note, with the log's signature lines>

a 409 answer is `text/x.tlog.size`: that size, decimal, and a newline; a 200 answer is the
witness's cosignature lines. Parsing is strict: anything else raises `MalformedRequest`
(400), and the note must be signed-note syntax over a checkpoint (its signatures are the
witness's to check)."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from projections.audit.signed_note import (
    HASH_SIZE,
    Checkpoint,
    InvalidNote,
    parse_checkpoint,
    split_note,
)

TLOG_SIZE = "text/x.tlog.size"
"""The media type of a 409 answer's body."""
MAX_PROOF_LINES = 63
"""tlog-witness: a client MUST NOT send more; a proof of a 2^63 tree needs no more."""
MAX_BODY = 64 * 1024
"""63 proof lines and a checkpoint with 100 signatures fit in well under this."""
MAX_SIZE = 2**63 - 1
"""The largest tree size taken (SQLite's INTEGER; a log of 2^63 entries is not coming)."""
_MAX_SIZE_DIGITS = len(str(MAX_SIZE))
_OLD = re.compile(r"old (0|[1-9][0-9]*)")
_SIZE = re.compile(r"(0|[1-9][0-9]*)\n")


class MalformedRequest(ValueError):
    """Not a tlog-witness request body (400); the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: str
    """The checkpoint note as sent, signatures unverified."""
    text: str
    """The note's text (the checkpoint, without signatures): what a cosignature signs."""
    checkpoint: Checkpoint
    """Its parsed text: believe it only once a trusted signature verifies."""


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The request body asking a witness to cosign `note`, extending its `old_size`."""
    if old_size < 0:
        raise ValueError(f"old size {old_size} is negative")
    if len(proof) > MAX_PROOF_LINES or any(len(h) != HASH_SIZE for h in proof):
        raise ValueError(f"a proof is at most {MAX_PROOF_LINES} hashes of {HASH_SIZE} bytes")
    if not note.endswith("\n"):
        raise ValueError("a signed note ends with a newline")
    lines = [f"old {old_size}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    return ("".join(line + "\n" for line in lines) + "\n" + note).encode("utf-8")


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """The fields of a request body; MalformedRequest unless it is exactly the format above."""
    if len(body) > MAX_BODY:
        raise MalformedRequest(f"body is larger than {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("body is not UTF-8") from None
    # Proof lines and the origin line are never empty: the first empty line ends the proof.
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise MalformedRequest("no empty line between the proof and the checkpoint")
    old_line, *proof_lines = head.split("\n")
    match = _OLD.fullmatch(old_line)
    if match is None:
        raise MalformedRequest(f"first line must be 'old <decimal size>', got {old_line[:40]!r}")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = tuple(_parse_hash(line) for line in proof_lines)
    if len(match[1]) > _MAX_SIZE_DIGITS:  # int() refuses numbers over 4,300 digits, with an error
        raise MalformedRequest(f"tree sizes above {MAX_SIZE} are not taken")
    old_size = int(match[1])
    if old_size == 0 and proof:
        raise MalformedRequest("the proof must be empty when the old size is 0")
    try:
        checkpoint_text, _ = split_note(note)
        checkpoint = parse_checkpoint(checkpoint_text)
    except InvalidNote as e:  # before ValueError: InvalidNote is one
        raise MalformedRequest(f"checkpoint note: {e}") from None
    except ValueError as e:
        raise MalformedRequest(f"checkpoint: {e}") from None
    if max(old_size, checkpoint.size) > MAX_SIZE:
        raise MalformedRequest(f"tree sizes above {MAX_SIZE} are not taken")
    return AddCheckpoint(old_size, proof, note, checkpoint_text, checkpoint)


def _parse_hash(line: str) -> bytes:
    try:
        digest = base64.b64decode(line, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        raise MalformedRequest(f"proof line {line[:60]!r} is not base64") from None
    if len(digest) != HASH_SIZE or base64.b64encode(digest).decode("ascii") != line:
        raise MalformedRequest(f"proof line {line[:60]!r} is not a base64 {HASH_SIZE}-byte hash")
    return digest


def format_tlog_size(size: int) -> bytes:
    """A 409 body: the size the witness last cosigned."""
    return f"{size}\n".encode("ascii")


def parse_tlog_size(body: bytes) -> int:
    """The size in a 409 body; MalformedRequest unless it is `<decimal>\\n`."""
    match = _SIZE.fullmatch(body.decode("ascii", errors="replace"))
    if match is None or len(match[1]) > 100:  # not a size any log has; int() would refuse 4,301
        raise MalformedRequest(f"not a {TLOG_SIZE} body: {body[:40]!r}")
    return int(match[1])
