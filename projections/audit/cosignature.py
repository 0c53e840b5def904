"""Witness cosignatures: C2SP tlog-cosignature `cosignature/v1`, Ed25519, signature type 0x04.

A cosignature is one more signed-note line under a checkpoint, by a witness that checked the
checkpoint extends the one it cosigned before:

    — witness.example/w1 base64(key id(4) || timestamp(8, big-endian) || Ed25519 signature(64))

The key id is SHA-256(name || 0x0A || 0x04 || public key)[:4] and the verifier key
`<name>+<key id hex>+<base64(0x04 || public key)>`. The Ed25519 signature covers

    cosignature/v1
    time <timestamp, decimal>
    <the checkpoint text: origin, size, root, extension lines, each ending in a newline>

so it commits to when the witness saw the checkpoint, but not to the witness's name (one key
per cosigner). Errors are signed_note's `InvalidNote` family: a line from another key is
`UnknownKey`, a line from this key that does not verify is `BadSignature`."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from projections.audit.signed_note import (
    SIGNATURE_PREFIX,
    BadSignature,
    UnknownKey,
    VerifierKey,
    format_verifier_key,
    key_id,
    parse_checkpoint,
    parse_signature_line,
    parse_verifier_key,
    split_note,
    valid_key_name,
)

COSIGNATURE_V1 = 0x04
"""The signed-note signature type byte of timestamped Ed25519 cosignatures."""
MAX_TIMESTAMP = 2**63 - 1
"""tlog-cosignature: a timestamp MUST NOT exceed 2^63 - 1."""
_SIGNATURE_SIZE = 4 + 8 + 64


def cosigned_message(note_text: str, timestamp: int) -> bytes:
    """The bytes a `cosignature/v1` signs: header line, time line, the checkpoint text."""
    return f"cosignature/v1\ntime {timestamp}\n{note_text}".encode()


class Cosigner:
    """A witness's Ed25519 key under its name: cosigns checkpoint texts."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not valid_key_name(name):
            raise ValueError(f"cosigner name {name!r} must be non-empty, without spaces or '+'")
        self.name = name
        self._private_key = private_key
        self.public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.public_key, COSIGNATURE_V1)

    @property
    def verifier_key(self) -> str:
        """`<name>+<key id hex>+<base64(0x04 || key)>`, for the logs and auditors to pin."""
        return format_verifier_key(self.name, self.public_key, COSIGNATURE_V1)

    def cosign(self, note_text: str, timestamp: int) -> str:
        """The signature line (ending in a newline) cosigning the checkpoint text `note_text`
        (the note without its signatures) at `timestamp` (POSIX seconds)."""
        parse_checkpoint(note_text)  # a cosignature is a statement about a checkpoint
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise ValueError(f"cosignature timestamp {timestamp} is outside 0..2^63-1")
        signature = self._private_key.sign(cosigned_message(note_text, timestamp))
        payload = self.key_id + timestamp.to_bytes(8, "big") + signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(payload).decode('ascii')}\n"


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: whose, and when the witness made it."""

    verifier_key: str
    timestamp: int
    line: str
    """The signature line, with its final newline, to keep beside the checkpoint."""


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """Checks `cosignature/v1` lines of one witness key."""

    verifier_key: str
    key: VerifierKey

    @classmethod
    def from_verifier_key(cls, vkey: str) -> CosignatureVerifier:
        """ValueError unless `vkey` is a type 0x04 verifier key whose id matches."""
        return cls(vkey, parse_verifier_key(vkey, COSIGNATURE_V1))

    @property
    def name(self) -> str:
        return self.key.name

    def claims(self, name: str, signature: bytes) -> bool:
        """Does a parsed signature line name this key (name and key id both)?"""
        return name == self.key.name and signature[:4] == self.key.key_id

    def verify(self, note_text: str, line: str) -> int:
        """The timestamp of signature line `line` (final newline optional) over `note_text`;
        UnknownKey if another key made it, BadSignature if it does not verify."""
        name, signature = parse_signature_line(line.removesuffix("\n"))
        if not self.claims(name, signature):
            raise UnknownKey(f"signature line is not by {self.key.name}+{self.key.key_id.hex()}")
        return self.verify_signature(note_text, signature)

    def verify_signature(self, note_text: str, signature: bytes) -> int:
        """The timestamp in `signature` (key id || timestamp || Ed25519), once it verifies."""
        who = f"{self.key.name}+{self.key.key_id.hex()}"
        if len(signature) != _SIGNATURE_SIZE:
            raise BadSignature(f"cosignature by {who} is {len(signature)} bytes, not 76")
        timestamp = int.from_bytes(signature[4:12], "big")
        if timestamp > MAX_TIMESTAMP:
            raise BadSignature(f"cosignature by {who} has a timestamp above 2^63 - 1")
        try:
            self.key.public_key.verify(signature[12:], cosigned_message(note_text, timestamp))
        except InvalidSignature:
            raise BadSignature(f"invalid cosignature by {who}") from None
        return timestamp


def open_cosignatures(note: str, verifiers: Iterable[CosignatureVerifier]) -> list[Cosignature]:
    """Every cosignature on signed note `note` by one of `verifiers`, verified, in note order.

    Lines of other keys (the log's own signature, unknown witnesses) are ignored; a line by a
    trusted witness that fails raises BadSignature, as signed-note advises rejecting the note.
    How many are enough (a quorum) is the caller's decision."""
    trusted = list(verifiers)
    text, signatures = split_note(note)
    found = []
    for name, signature in signatures:
        for verifier in trusted:
            if verifier.claims(name, signature):
                timestamp = verifier.verify_signature(text, signature)
                line = f"{SIGNATURE_PREFIX}{name} {base64.b64encode(signature).decode('ascii')}\n"
                found.append(Cosignature(verifier.verifier_key, timestamp, line))
    return found
