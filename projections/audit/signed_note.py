"""Signed checkpoints: C2SP tlog-checkpoint bodies inside C2SP signed notes, with Ed25519.

The formats are those of golang.org/x/mod/sumdb/note and https://c2sp.org/signed-note, so any
note or checkpoint tool can check what the log publishes:

    verdict.example/log                           <- origin
    1234                                          <- tree size
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=  <- base64 root hash (RFC 9162)
    time 2026-11-22T12:00:00Z                     <- our one extension line, `time_extension`
                                                  <- blank line: the text ends above it
    — verdict.example/log <base64(key id || Ed25519 signature)>

The signature covers the text including its final newline. The key id is the first four bytes of
SHA-256(name || 0x0A || 0x01 || public key), and a verifier key is the string
`<name>+<key id as 8 hex digits>+<base64(0x01 || public key)>`. C2SP asks that the key name
match the origin line; `NoteSigner` does not insist, the caller picks both. Witness
cosignatures (type 0x04) are the same lines over another message: `cosignature.py`.

Errors: a note that fails to open raises `InvalidNote`, one of

    InvalidNote (ValueError)
    ├── MalformedNote   not the signed-note syntax at all
    ├── UnknownKey      no signature line from the key we trust (others are ignored)
    └── BadSignature    a line from our key whose signature does not verify

A malformed checkpoint body or verifier key raises plain ValueError."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

ED25519 = 0x01
"""The signed-note signature type byte for Ed25519."""
SIGNATURE_PREFIX = "— "
"""Em dash (U+2014) and a space open every signature line."""
MAX_SIGNATURES = 100
"""C2SP says accept at least 16; golang.org/x/mod/sumdb/note stops at 100, so do we."""
HASH_SIZE = 32

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_TIME = re.compile(r"time (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


class InvalidNote(ValueError):
    """A signed note that must not be trusted; the message says why."""


class MalformedNote(InvalidNote):
    pass


class UnknownKey(InvalidNote):
    pass


class BadSignature(InvalidNote):
    pass


# -- checkpoint bodies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def time(self) -> datetime | None:
        """The `time` extension line as an aware UTC datetime; None without one."""
        for line in self.extensions:
            if line.startswith("time "):
                return parse_time_extension(line)
        return None


def _valid_text(text: str) -> bool:
    """No ASCII control characters but newline, and nothing that cannot be UTF-8."""
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _valid_line(line: str) -> bool:
    return line != "" and "\n" not in line and _valid_text(line)


def format_checkpoint(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    """The checkpoint note text, newline-terminated, ready for `NoteSigner.sign`."""
    if not _valid_line(origin):
        raise ValueError(f"checkpoint origin must be one non-empty line, got {origin!r}")
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    if len(root) != HASH_SIZE:
        raise ValueError(f"root hash must be {HASH_SIZE} bytes, got {len(root)}")
    for line in extensions:
        if not _valid_line(line):
            raise ValueError(f"extension lines must be non-empty single lines, got {line!r}")
    lines = [origin, str(size), base64.b64encode(root).decode("ascii"), *extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """The fields of a checkpoint note text (the part before the signatures)."""
    if not text.endswith("\n"):
        raise ValueError("checkpoint text must end with a newline")
    if not _valid_text(text):
        raise ValueError("checkpoint text contains control characters")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise ValueError(f"checkpoint needs origin, size and root lines, got {len(lines)} lines")
    origin, size, root, *extensions = lines
    if not origin:
        raise ValueError("checkpoint origin line is empty")
    if not _DECIMAL.fullmatch(size):
        raise ValueError(f"checkpoint size {size!r} is not a decimal without leading zeros")
    try:
        digest = base64.b64decode(root, validate=True)
    except ValueError as e:  # binascii.Error, or a non-ASCII character
        raise ValueError(f"checkpoint root {root!r} is not base64: {e}") from None
    if len(digest) != HASH_SIZE or base64.b64encode(digest).decode("ascii") != root:
        raise ValueError(f"checkpoint root {root!r} is not a base64 {HASH_SIZE}-byte hash")
    if any(line == "" for line in extensions):
        raise ValueError("checkpoint extension lines must be non-empty")
    return Checkpoint(origin, int(size), digest, tuple(extensions))


def time_extension(when: datetime) -> str:
    """`time <RFC 3339 UTC>` at whole seconds: the extension line our checkpoints carry."""
    if when.tzinfo is None:
        raise ValueError("checkpoint time must be timezone-aware")
    return "time " + when.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_time_extension(line: str) -> datetime:
    """The datetime of a `time_extension` line."""
    match = _TIME.fullmatch(line)
    if match is None:
        raise ValueError(f"not a 'time YYYY-MM-DDTHH:MM:SSZ' line: {line!r}")
    return datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# -- keys -----------------------------------------------------------------------------------------


def valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode spaces, no '+' (signed-note's rule for key names)."""
    return name != "" and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes, signature_type: int = ED25519) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4]: which key made a signature line.

    The type byte keeps one Ed25519 key apart in its roles: 0x01 signs notes, 0x04 cosigns."""
    material = bytes([signature_type]) + public_key
    return hashlib.sha256(name.encode("utf-8") + b"\n" + material).digest()[:4]


def format_verifier_key(name: str, public_key: bytes, signature_type: int = ED25519) -> str:
    """`<name>+<key id as 8 hex>+<base64(type || public key)>`."""
    material = base64.b64encode(bytes([signature_type]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key, signature_type).hex()}+{material}"


@dataclass(frozen=True, slots=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey


def parse_verifier_key(vkey: str, signature_type: int = ED25519) -> VerifierKey:
    """`<name>+<8 hex>+<base64(type || key)>`; ValueError unless the id matches the key.

    `signature_type` is the one type we accept: 0x01 for a note key, 0x04 for a cosigner."""
    parts = vkey.split("+", 2)  # base64 may contain '+' too
    if len(parts) != 3:
        raise ValueError(f"verifier key {vkey!r} is not name+id+key")
    name, hex_id, b64 = parts
    if not valid_key_name(name):
        raise ValueError(f"verifier key name {name!r} is empty or has spaces")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise ValueError(f"verifier key id {hex_id!r} is not 8 lowercase hex digits")
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        raise ValueError(f"verifier key material {b64!r} is not base64") from None
    if len(raw) != 33 or raw[0] != signature_type:
        raise ValueError(
            f"verifier key is not an Ed25519 (type {signature_type:#04x}, 32-byte) key"
        )
    if key_id(name, raw[1:], signature_type) != bytes.fromhex(hex_id):
        raise ValueError(f"verifier key id {hex_id} does not match its name and key")
    return VerifierKey(name, bytes.fromhex(hex_id), Ed25519PublicKey.from_public_bytes(raw[1:]))


# -- signing and opening --------------------------------------------------------------------------


class NoteSigner:
    """Signs note texts with one named Ed25519 key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not valid_key_name(name):
            raise ValueError(f"key name {name!r} must be non-empty, without spaces or '+'")
        self.name = name
        self._private_key = private_key
        self.public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.public_key)

    @property
    def verifier_key(self) -> str:
        """What a verifier needs, to publish: `<name>+<key id hex>+<base64(0x01 || key)>`."""
        return format_verifier_key(self.name, self.public_key)

    def sign(self, text: str) -> str:
        """The signed note: `text` (ending in a newline), a blank line, our signature line."""
        if not text.endswith("\n"):
            raise ValueError("note text must end with a newline")
        if not _valid_text(text):
            raise ValueError("note text must not contain control characters other than newline")
        signature = self._private_key.sign(text.encode("utf-8"))
        line = base64.b64encode(self.key_id + signature).decode("ascii")
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {line}\n"


def generate_signer(name: str) -> tuple[NoteSigner, bytes]:
    """A new key; the bytes are its raw 32-byte private key, to keep secret and reload."""
    private_key = Ed25519PrivateKey.generate()
    raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return NoteSigner(name, private_key), raw


def signer_from_private_bytes(name: str, raw: bytes) -> NoteSigner:
    """The signer for a stored raw 32-byte Ed25519 private key."""
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 private key is 32 bytes, got {len(raw)}")
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(raw))


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The text of `note` (with its final newline) and its signature lines as (key name,
    key id || signature) pairs, unverified; MalformedNote unless it is signed-note syntax."""
    if not _valid_text(note):
        raise MalformedNote("note contains control characters or invalid UTF-8")
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNote("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNote("note must end with a signature line and a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"note has more than {MAX_SIGNATURES} signatures")
    return text, [parse_signature_line(line) for line in lines]


def open_note(note: str, verifier_key: str) -> str:
    """The text of `note` once a signature by `verifier_key` verifies.

    Signature lines from other keys (witnesses, a rotated key) are ignored, as C2SP requires;
    every line that claims our name and key id must verify."""
    key = parse_verifier_key(verifier_key)
    text, signatures = split_note(note)
    verified = False
    message = text.encode("utf-8")
    for name, signature in signatures:
        if name != key.name or signature[:4] != key.key_id:
            continue
        try:
            key.public_key.verify(signature[4:], message)
        except InvalidSignature:
            raise BadSignature(f"invalid signature for key {key.name}+{key.key_id.hex()}") from None
        verified = True
    if not verified:
        raise UnknownKey(f"no signature by key {key.name}+{key.key_id.hex()}")
    return text


def parse_signature_line(line: str) -> tuple[str, bytes]:
    """`— <name> <base64>` (no newline) as (name, key id || signature); MalformedNote if not."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNote(f"signature line does not start with an em dash: {line[:40]!r}")
    name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not valid_key_name(name):
        raise MalformedNote(f"signature line has an invalid key name: {line[:40]!r}")
    try:
        signature = decode_canonical_base64(b64)
    except ValueError as not_base64:
        raise MalformedNote(f"signature of {name} is {not_base64}") from None
    if len(signature) < 5:
        raise MalformedNote(f"signature of {name} is too short")
    return name, signature


def decode_canonical_base64(text: str) -> bytes:
    """Strict base64 in its one canonical spelling, so that a text has one meaning; ValueError
    `not base64` or `not canonical base64`."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        raise ValueError("not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


def open_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """`parse_checkpoint(open_note(...))`: a checkpoint worth believing, or an error."""
    return parse_checkpoint(open_note(note, verifier_key))
