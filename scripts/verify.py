#!/usr/bin/env python3
"""Audit a Verdict Ledger from the outside, trusting nothing it says until it is recomputed.

    python scripts/verify.py URL [--public-key VKEY] [--witness VKEY ... [--quorum K]]
                             [--state FILE | --no-state] [--receipt FILE] [--known NOTE_FILE ...]
    python scripts/verify.py --export FILE [--checkpoint NOTE_FILE] [--public-key VKEY]
    python scripts/verify.py --tlog-proof FILE --leaf-hash B64 --public-key VKEY [--witness ...]

What it checks, following docs/audit.md and nothing else:

1. Signatures: the latest checkpoint and every stored checkpoint are C2SP signed notes with a
   valid Ed25519 signature by the ledger's key, and their sizes only grow.
2. Leaves and roots: it streams the export up to the latest checkpoint, recomputes every leaf
   hash from the event itself (canonical JSON, RFC 9162 leaf hashing) and the root at every
   signed size, and compares. The log's own recorded leaf hashes are checked against the signed
   roots too; where they reproduce the signed root and the events do not, the first leaf whose
   event no longer hashes to the recorded value is the first tampered position.
3. Proofs: the API's consistency proofs between checkpoints (each earlier tree is a prefix of
   the later one) and inclusion proofs of sampled leaves, verified against the signed roots.
   Checkpoints kept from an earlier audit (`--known`) must still be prefixes of the log: a
   second tree of the same size is a FORK.
4. Figures: it replays the events to recount every tool's panel verdicts and community ballots
   and compares them, for every tool, with the score pages at the checkpoint's size
   (`/v1/audit/scores`: status, panel and score proof, one request per page of tools), and for
   the first, the last and a random sample of the tools (TOOL_SAMPLE in all) with the tool's
   own page as of that size (`/v1/tools/{slug}?as_of=`: status, panel, community).
5. Witnesses (`--witness`, `--quorum`): the checkpoint counts only with K valid C2SP
   cosignature/v1 lines by distinct witnesses given (default: all of them).
6. Memory (`--state`): the newest checkpoint verified is kept in a file per origin (under
   `$XDG_CACHE_HOME` or `~/.cache`, `verdict-ledger/verify/`); the next run must see a log
   that extends it (a consistency proof between the two), else FORK. The file is written only
   after a fully successful run, atomically.
7. Receipts (`--receipt`): the signed promise in a write's receipt is the log key's and names
   the receipt's leaf; the leaf is at its position in the verified checkpoint, or the promise
   is not yet due (pending), or it is BROKEN PROMISE.
8. Offline proofs (`--tlog-proof`): a C2SP tlog-proof is checked with no network at all.

With `--export` there is no service to ask: 1 and 2 run against the file's checkpoint (or the
one given), and the replayed figures are printed.

Why it trusts nothing of the service: it imports nothing from `domain/`, `projections/` or
`api/` (a test holds it to that); it needs only the standard library and `cryptography`, speaks
plain HTTP to the one URL it is given, and re-derives every hash, root, signature and figure
from the bytes it receives. The one thing it must take on faith is the public key: pass
`--public-key` obtained elsewhere (e.g. published on another site), or it says loudly that it
is trusting the key the ledger itself served; the same goes for the witnesses' keys.

It ends with one line `VERDICT: OK ...` (exit 0) or `VERDICT: FAILED ...` (exit 1) saying what
was found. What the source sent whole and is wrong fails the audit, a lie and a broken ledger
alike: a signature, root, proof or figure that does not check, and also a score page that is
not JSON or not of the documented shape, score pages that loop or add nothing, an event line
longer than MAX_LINE (over HTTP or in an export file). Exit 2, with no verdict, is for a usage
error or an unreadable file of the auditor's, and for an answer that did not arrive: a refused
or lost connection, a timeout, a body cut short, an HTTP error status (a 503 once its retries
are spent, a 422 while the views never catch up, any other). Such a refusal proves nothing
against the ledger, but it is never OK. (Other answers than the score pages and the event
lines that are not of their shape, e.g. a checkpoint list, still end the run with exit 2.)"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import dataclasses
import hashlib
import http.client
import itertools
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EXPORT_FORMAT = "verdict-ledger-export/1"
PAGE = 10_000
READ_BLOCK = 1 << 16
MAX_LINE = 16 << 20
"""Bytes an export line may hold: an event is at most a request body (16 KiB by default,
VERDICT_MAX_BODY_BYTES), its line a few times that; a line past this, over HTTP or in an export
file, is refused unread (BadAnswer: a FAILED verdict), not held."""
TOOL_SAMPLE = 50
"""Tools whose own page (`?as_of=`) is compared too: one GET each, the rest by score pages."""
TIMEOUT = 30.0
UNAVAILABLE_ATTEMPTS = 10
"""Tries of a request the service answers 503 (e.g. while its database restarts), each after
the Retry-After it asks for (at most MAX_RETRY_AFTER seconds): a pause is not a failed audit."""
MAX_RETRY_AFTER = 5.0
MAX_CONSISTENCY_PROOFS = 20
MAX_LISTED = 10
"""Failures printed in full; the rest are counted."""

# -- canonical bytes and RFC 9162 hashing ---------------------------------------------------------

EMPTY_ROOT = hashlib.sha256(b"").digest()


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
"""One encoder for every event: `json.dumps` with options builds a new one per call."""
_C_ENCODER = (
    json.encoder.c_make_encoder(
        None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )
    if json.encoder.c_make_encoder is not None
    else None
)
"""The C encoder `_CANONICAL` builds on every call, built once and without its circular
check: a value decoded from JSON holds no cycles (a quarter of a leaf's cost on 1.5M events;
tests/scripts/test_verify_functions.py holds the two equal)."""
_DECODE = json.JSONDecoder().decode
"""`json.loads` of text, without its per-call look for a byte order mark."""
_SCAN = json.JSONDecoder().scan_once
_WHITESPACE = " \t\n\r"
"""What JSON allows around a value (json.decoder.WHITESPACE)."""


def decode_line(text: str) -> Any:
    """`_DECODE(text)`, without its two whitespace regexes when the value starts the text, as
    it does on every line an export writes (a fifth of decoding a line)."""
    if text[:1] in _WHITESPACE:  # "" too: the full decoder says what is wrong
        return _DECODE(text)
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        raise ValueError("an export line that is not JSON") from None
    if end != len(text) and text[end:].strip(_WHITESPACE):
        raise ValueError("extra data after an export line's JSON")
    return value


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 as is (docs/audit.md, "Canonical event bytes")."""
    if _C_ENCODER is None:
        return _CANONICAL(value).encode("utf-8")
    return "".join(_C_ENCODER(value, 0)).encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, as RFC 9162 §2.1.1 defines it (recursive; for small trees)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


class CompactRange:
    """The right edge of a growing tree, one hash per set bit of its size: O(log n) memory."""

    def __init__(self) -> None:
        self.size = 0
        self.peaks: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        index, peaks, sha256 = self.size, self.peaks, hashlib.sha256
        while index & 1:
            leaf = sha256(b"\x01" + peaks.pop() + leaf).digest()  # node_hash, inlined: per leaf
            index >>= 1
        peaks.append(leaf)
        self.size += 1

    def copy(self) -> CompactRange:
        twin = CompactRange()
        twin.size, twin.peaks = self.size, list(self.peaks)
        return twin

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        acc = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            acc = node_hash(peak, acc)
        return acc


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2; equal sizes are consistent when the roots are equal and proof empty."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = [first_root, *proof] if first & (first - 1) == 0 else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


# -- signed checkpoints (C2SP signed-note and tlog-checkpoint) ------------------------------------


class Untrusted(ValueError):
    """A note, key or checkpoint that must not be believed; the message says why."""


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: str
    note: str

    @property
    def head(self) -> TreeHead:
        return TreeHead(self.size, self.root)


@dataclass(frozen=True)
class TreeHead:
    """What a checkpoint commits to: a tree size and its root."""

    size: int
    root: bytes

    def __str__(self) -> str:
        return f"size {self.size} root {base64.b64encode(self.root).decode()}"


def b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise Untrusted(f"{what} is not base64: {text[:60]!r}") from None


ED25519 = 0x01
"""The signed-note signature type of the log's own Ed25519 key."""
COSIGNATURE = 0x04
"""The signed-note signature type of a C2SP tlog-cosignature/v1 (timestamped Ed25519)."""
MAX_SIGNATURES = 100
"""C2SP asks to accept at least 16 signature lines; more than this is not a note we read."""


def key_id(name: str, public_key: bytes, kind: int = ED25519) -> bytes:
    """SHA-256(name || 0x0A || signature type || public key)[:4] (C2SP signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public_key).digest()[:4]


def parse_verifier_key(text: str, kind: int = ED25519) -> VerifierKey:
    """`name+hex key id+base64(type || Ed25519 public key)`, its id checked against the key;
    `kind` is 0x01 for the log's key, 0x04 for a witness's cosigning key."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not parts[0]:
        raise Untrusted(f"verifier key {text!r} is not name+id+key")
    name, hex_id, material = parts
    raw = b64decode(material, "verifier key")
    if len(raw) != 33 or raw[0] != kind:
        raise Untrusted(f"verifier key {name!r} is not an Ed25519 key of type 0x{kind:02x}")
    if key_id(name, raw[1:], kind).hex() != hex_id:
        raise Untrusted(f"verifier key id {hex_id} does not match its name and key")
    return VerifierKey(name, bytes.fromhex(hex_id), Ed25519PublicKey.from_public_bytes(raw[1:]))


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's text (with its final newline) and its signature lines as (key name,
    decoded signature); the text ends at the last blank line (C2SP signed-note)."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise Untrusted("not a signed note: no blank line before the signatures")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise Untrusted("not a signed note: it holds control characters")
    text, lines = note[: split + 1], note[split + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise Untrusted(f"note has more than {MAX_SIGNATURES} signature lines")
    signatures = []
    for line in lines:
        if not line.startswith("\u2014 "):
            raise Untrusted(f"signature line does not start with an em dash: {line[:40]!r}")
        name, _, encoded = line[2:].partition(" ")
        signatures.append((name, b64decode(encoded, f"signature of {name}")))
    return text, signatures


def open_note(note: str, key: VerifierKey) -> str:
    """The text of `note` once `key`'s signature over it verifies. Lines of other keys
    (witnesses) are ignored; a line with `key`'s name and id that does not verify is refused."""
    text, signatures = split_note(note)
    verified = False
    for name, signature in signatures:
        if name != key.name or signature[:4] != key.key_id:
            continue
        try:
            key.public_key.verify(signature[4:], text.encode())
        except InvalidSignature:
            raise Untrusted(f"BAD SIGNATURE by {key.name}+{key.key_id.hex()}") from None
        verified = True
    if not verified:
        raise Untrusted(f"no signature by key {key.name}+{key.key_id.hex()}")
    return text


def note_text(note: object) -> str | None:
    """The signed text of a note (what every signature covers), None for anything else: two
    notes of one checkpoint may differ in their cosignature lines only."""
    if not isinstance(note, str):
        return None
    split = note.rfind("\n\n")
    return note[: split + 1] if split >= 0 else None


def open_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint in `note` once `key`'s signature over its text verifies."""
    text = open_note(note, key)
    lines = text[:-1].split("\n")
    if (
        len(lines) < 3
        or not (lines[1].isascii() and lines[1].isdigit())
        or lines[1] != str(int(lines[1]))
    ):
        raise Untrusted("checkpoint text is not origin, size, root")
    root = b64decode(lines[2], "checkpoint root")
    if len(root) != 32:
        raise Untrusted("checkpoint root is not a 32-byte hash")
    if lines[0] != key.name:
        raise Untrusted(f"checkpoint origin {lines[0]!r} is not the key name {key.name!r}")
    when = next((x[5:] for x in lines[3:] if x.startswith("time ")), "?")
    return Checkpoint(lines[0], int(lines[1]), root, when, note)


# -- witnesses (C2SP tlog-cosignature, cosignature/v1) ---------------------------------------------

MAX_TIMESTAMP = 2**63 - 1


@dataclass(frozen=True)
class Cosignature:
    witness: str
    """The witness's key name and key id, `name+id`."""
    timestamp: int
    """When it cosigned (POSIX seconds)."""


def parse_witness_key(text: str) -> VerifierKey:
    """A witness's verifier key: `name+id+base64(0x04 || Ed25519 key)`."""
    return parse_verifier_key(text, COSIGNATURE)


def utc(timestamp: int) -> str:
    """POSIX seconds as RFC 3339 UTC (the number itself when no calendar holds it)."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(timestamp)


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: two header lines, then the checkpoint's note text."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosignatures(
    note: str, witnesses: Sequence[VerifierKey]
) -> tuple[list[Cosignature], list[str]]:
    """The valid cosignatures on `note` by the given witnesses (one each, distinct witnesses
    only), and what is wrong with each line that claims a given witness's name and key id
    but does not verify. Lines of keys not given are ignored, as C2SP requires."""
    text, signatures = split_note(note)
    valid: dict[tuple[str, bytes], Cosignature] = {}
    bad: list[str] = []
    for name, signature in signatures:
        for key in witnesses:
            if name != key.name or signature[:4] != key.key_id:
                continue
            label = f"{key.name}+{key.key_id.hex()}"
            timestamp = int.from_bytes(signature[4:12], "big")
            if len(signature) != 76 or timestamp > MAX_TIMESTAMP:
                bad.append(f"BAD COSIGNATURE by {label}: not a timestamped Ed25519 signature")
                continue
            try:
                key.public_key.verify(signature[12:], cosigned_message(text, timestamp))
            except InvalidSignature:
                bad.append(f"BAD COSIGNATURE by {label}")
                continue
            valid.setdefault((key.name, key.key_id), Cosignature(label, timestamp))
    return list(valid.values()), bad


def distinct_witnesses(keys: Sequence[VerifierKey]) -> list[VerifierKey]:
    """The witnesses given, each (name, key id) once: a key given twice counts once."""
    seen: dict[tuple[str, bytes], VerifierKey] = {}
    for key in keys:
        seen.setdefault((key.name, key.key_id), key)
    return list(seen.values())


def check_quorum(
    cp: Checkpoint, witnesses: Sequence[VerifierKey], quorum: int, report: Report
) -> None:
    """The checkpoint counts only with `quorum` valid cosignatures by distinct given witnesses;
    a given witness's line that does not verify fails the audit too."""
    if not witnesses:
        return
    valid, bad = cosignatures(cp.note, witnesses)
    report.failures += [f"{problem} on the checkpoint of size {cp.size}" for problem in bad]
    names = ", ".join(f"{c.witness} at {utc(c.timestamp)}" for c in valid)
    if len(valid) < quorum:
        report.trust.append(
            f"QUORUM NOT MET: {len(valid)} valid cosignature(s) of the {quorum} required "
            f"({len(witnesses)} witness(es) given) on the checkpoint of size {cp.size}"
            + (f": {names}" if names else "")
        )
    report.say(
        "witnesses",
        f"{len(valid)} of {len(witnesses)} given witnesses cosigned the checkpoint of size "
        f"{cp.size} (quorum {quorum})" + (f": {names}" if names else ""),
    )


# -- the checkpoint remembered from the last run -------------------------------------------------

STATE_FORMAT = "verdict-ledger-verify-state/1"


@dataclass(frozen=True)
class Remembered:
    """The newest checkpoint a run verified, as its state file keeps it."""

    origin: str
    head: TreeHead
    note: str
    verified_at: str


def default_state_path(origin: str, environ: Mapping[str, str] = os.environ) -> Path:
    """One file per origin under the user's cache folder (XDG: `$XDG_CACHE_HOME` when it is
    an absolute path, else `~/.cache`), the origin escaped into one safe file name."""
    cache = environ.get("XDG_CACHE_HOME", "")
    try:
        base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    except RuntimeError:  # no home folder to be found
        raise Unavailable(
            "no cache folder for the state: pass --state FILE or --no-state"
        ) from None
    return base / "verdict-ledger" / "verify" / (urllib.parse.quote(origin, safe="") + ".json")


def load_state(path: Path) -> Remembered | None:
    """The remembered checkpoint, None on a first run; an unreadable file stops the run (exit
    2) rather than being silently forgotten."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw)
        if doc.get("format") != STATE_FORMAT:
            raise ValueError(f"format is not {STATE_FORMAT}")
        size, root = doc["size"], b64decode(doc["root"], "root")
        if not isinstance(size, int) or size < 0 or len(root) != 32:
            raise ValueError("size or root is not a tree head")
        return Remembered(
            str(doc["origin"]),
            TreeHead(size, root),
            str(doc["note"]),
            str(doc.get("verified_at", "?")),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise Unavailable(
            f"state file {path} is unreadable ({e}); move it away to start afresh"
        ) from None


def save_state(path: Path, cp: Checkpoint) -> None:
    """Remember `cp`, atomically: a temporary file beside the state, synced, then renamed over
    it, so a crash leaves the old state or the new one, never half of either."""
    body = {
        "format": STATE_FORMAT,
        "origin": cp.origin,
        "size": cp.size,
        "root": base64.b64encode(cp.root).decode(),
        "note": cp.note,
        "verified_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    renamed = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        renamed = True
    finally:
        if not renamed:
            os.unlink(temporary)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def remember(path: Path, cp: Checkpoint, report: Report) -> None:
    """Save `cp` as the state, unless a run alongside this one has meanwhile remembered a larger
    tree: the memory never rolls back."""
    current = load_state(path)
    if current is not None and current.head.size > cp.size:
        report.say("state", f"kept the larger size {current.head.size} remembered in {path}")
        return
    save_state(path, cp)
    report.say("state", f"remembered size {cp.size} in {path}")


def fork_reason(
    remembered: TreeHead, latest: TreeHead, proof: Sequence[bytes] | None
) -> str | None:
    """Why the tree `latest` does not extend `remembered` (None when it does), given the log's
    consistency proof between them (None when the log gave none)."""
    if latest.size < remembered.size:
        return "the log is now smaller than the tree remembered"
    if latest.size == remembered.size:
        return None if latest.root == remembered.root else "another root at the same size"
    if remembered.size == 0:
        return None  # every tree extends the empty one
    if proof is None:
        return "the log gives no consistency proof between them"
    if not verify_consistency(remembered.size, latest.size, remembered.root, latest.root, proof):
        return "the consistency proof between them does not verify"
    return None


def check_state(service: Service, path: Path, latest: Checkpoint, report: Report) -> None:
    """The served checkpoint must extend the one remembered from the last run, else FORK with
    both tree heads and both signed notes (together they are the evidence)."""
    report.state_path = path
    remembered = load_state(path)
    if remembered is None:
        report.say("state", f"nothing remembered yet in {path}")
        return
    if remembered.origin != latest.origin:
        raise Unavailable(
            f"state file {path} remembers the log {remembered.origin!r}, not {latest.origin!r}"
        )
    old, new, proof = remembered.head, latest.head, None
    if 0 < old.size < new.size:
        try:
            got = service.json(
                "/v1/audit/proofs/consistency", {"first": old.size, "second": new.size}
            )
            proof = [b64decode(p, "consistency proof") for p in got["proof"]]
        except Unavailable as e:
            if e.status is None or not 400 <= e.status < 500:
                raise
            report.warnings.append(f"no consistency proof from size {old.size}: {e}")
    reason = fork_reason(old, new, proof)
    if reason is None:
        report.say(
            "state",
            f"extends the checkpoint of size {old.size} remembered from {remembered.verified_at}"
            f" ({path})",
        )
        return
    report.trust.append(
        f"FORK: {reason}: remembered {old} (verified {remembered.verified_at}), served {new}"
    )
    report.say("remembered", "the signed checkpoint kept in " + str(path) + ":")
    report.lines += [f"    {line}" for line in remembered.note.splitlines()]
    report.say("served", "the signed checkpoint served now:")
    report.lines += [f"    {line}" for line in latest.note.splitlines()]


# -- signed promises (receipts) -------------------------------------------------------------------

PROMISE_HEADER = "verdict-ledger/promise/v1"
MAX_PROMISED = 64
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_RFC3339_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


@dataclass(frozen=True)
class Promise:
    """The log's signed word that these leaves will be in a signed checkpoint by `by`."""

    origin: str
    by: datetime
    leaves: tuple[tuple[int, bytes], ...]
    """(log position, leaf hash), ascending positions."""
    note: str


@dataclass(frozen=True)
class Receipt:
    position: int
    leaf_hash: bytes
    promise: str


def parse_time(text: str) -> datetime:
    """`YYYY-MM-DDTHH:MM:SSZ` as an aware UTC datetime."""
    if not _RFC3339_UTC.fullmatch(text):
        raise ValueError(f"{text!r} is not a UTC time YYYY-MM-DDTHH:MM:SSZ")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def open_promise(note: str, key: VerifierKey) -> Promise:
    """The promise in `note` once the log key's signature over its text verifies: origin line
    (the key name), `verdict-ledger/promise/v1`, `by <time>`, then 1 to 64 lines `<position>
    <base64 leaf hash>` in ascending positions (docs/audit.md, "Signed promises")."""
    lines = open_note(note, key)[:-1].split("\n")
    if len(lines) < 4 or lines[1] != PROMISE_HEADER or not lines[2].startswith("by "):
        raise Untrusted(f"the signed note is not a {PROMISE_HEADER} promise")
    if lines[0] != key.name:
        raise Untrusted(f"promise origin {lines[0]!r} is not the key name {key.name!r}")
    try:
        by = parse_time(lines[2][3:])
    except ValueError as e:
        raise Untrusted(f"promise: {e}") from None
    if len(lines) - 3 > MAX_PROMISED:
        raise Untrusted(f"promise names more than {MAX_PROMISED} leaves")
    leaves: list[tuple[int, bytes]] = []
    for line in lines[3:]:
        position, _, encoded = line.partition(" ")
        digest = b64decode(encoded, "promised leaf hash")
        if not _DECIMAL.fullmatch(position) or len(digest) != 32:
            raise Untrusted(f"promise line {line[:60]!r} is not '<position> <leaf hash>'")
        if leaves and int(position) <= leaves[-1][0]:
            raise Untrusted("promise positions are not ascending")
        leaves.append((int(position), digest))
    return Promise(lines[0], by, tuple(leaves), note)


def load_receipt(path: str) -> Receipt:
    """A write's answer (`{"receipt": {...}, ...}`) or the receipt object itself; a file that
    is neither is a usage error."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    receipt = doc.get("receipt", doc) if isinstance(doc, dict) else None
    if not isinstance(receipt, dict):
        raise ValueError(f"{path} holds no receipt object")
    position, promise = receipt.get("position"), receipt.get("promise")
    if position is None:
        raise ValueError(f"{path}: the write recorded no event (position null): nothing to check")
    if not isinstance(position, int) or isinstance(position, bool) or position < 1:
        raise ValueError(f"{path}: the receipt's position {position!r} is not a log position")
    if not isinstance(promise, str):
        raise ValueError(f"{path}: the receipt carries no signed promise")
    digest = b64decode(str(receipt.get("leaf_hash")), "receipt leaf hash")
    if len(digest) != 32:
        raise ValueError(f"{path}: the receipt's leaf hash is not a 32-byte hash")
    return Receipt(position, digest, promise)


def promise_verdict(
    promise: Promise, receipt: Receipt, found: bytes | None, now: datetime
) -> str | None:
    """Whether the promise is broken, given the leaf hash the signed tree holds at the
    receipt's position (None when absent): a problem, or None when kept or not yet due."""
    leaf = base64.b64encode(receipt.leaf_hash).decode()
    if found is not None and found != receipt.leaf_hash:
        return (
            f"position {receipt.position} holds another leaf "
            f"({base64.b64encode(found).decode()}) than the promised {leaf}"
        )
    if found is None and now > promise.by:
        return (
            f"position {receipt.position} (leaf {leaf}) was promised by "
            f"{promise.by:%Y-%m-%dT%H:%M:%SZ} and is not in the log"
        )
    return None


def check_receipt(
    service: Service, receipt: Receipt, key: VerifierKey, latest: Checkpoint, report: Report
) -> None:
    """The promise is signed by the log key and names the receipt's leaf; the leaf is at its
    position in the verified checkpoint (inclusion proof), or the promise is not yet due."""
    try:
        promise = open_promise(receipt.promise, key)
    except Untrusted as e:
        report.trust.append(f"the receipt's promise is not the log's: {e}")
        return
    leaf = base64.b64encode(receipt.leaf_hash).decode()
    if (receipt.position, receipt.leaf_hash) not in promise.leaves:
        report.trust.append(
            f"the signed promise does not name the receipt's leaf (position {receipt.position}, "
            f"{leaf}): it names {len(promise.leaves)} other leaf(s)"
        )
        return
    found, absent = None, ""
    try:
        got = service.json(
            "/v1/audit/proofs/inclusion", {"position": receipt.position, "size": latest.size}
        )
    except Unavailable as e:
        if e.status is None or not 400 <= e.status < 500:
            raise
        absent = f"HTTP {e.status}"
    else:
        digest = b64decode(got["leaf_hash"], "leaf hash")
        proof = [b64decode(p, "inclusion proof") for p in got["proof"]]
        if got["position"] != receipt.position:
            report.failures.append(f"asked for position {receipt.position}, got {got['position']}")
        elif verify_inclusion(digest, got["leaf_index"], latest.size, proof, latest.root):
            found = digest
        else:
            report.failures.append(
                f"the inclusion proof of position {receipt.position} does not verify against "
                f"the checkpoint of size {latest.size}"
            )
    by = f"{promise.by:%Y-%m-%dT%H:%M:%SZ}"
    broken = promise_verdict(promise, receipt, found, datetime.now(UTC))
    if broken is not None:
        report.trust.append(
            f"BROKEN PROMISE: {broken} (signed checkpoint of size {latest.size}"
            + (f", {absent}" if absent else "")
            + ")"
        )
        report.say("promise", "the log's signed promise:")
        report.lines += [f"    {line}" for line in promise.note.splitlines()]
    elif found is not None:
        report.say(
            "receipt",
            f"position {receipt.position} is leaf {got['leaf_index']} of the checkpoint of size "
            f"{latest.size}, as promised by {by}",
        )
    else:
        report.pending = f"receipt of position {receipt.position} PENDING until {by}"
        report.say(
            "receipt",
            f"PENDING until {by}: position {receipt.position} is not yet in the checkpoint of "
            f"size {latest.size}; the signed promise holds until then",
        )


# -- offline proofs (C2SP tlog-proof@v1) ----------------------------------------------------------

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 64
"""An inclusion proof in a tree of at most 2**64 leaves has at most 64 hashes."""


@dataclass(frozen=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    """The checkpoint note, verbatim: its text, the blank line, its signature lines."""
    extra: bytes | None = None
    """Opaque and unauthenticated: never trusted."""


def parse_tlog_proof(text: str) -> TlogProof:
    """The parts of a tlog-proof: header, optional `extra`, `index N`, the inclusion proof's
    hashes one per line, a blank line, the checkpoint. Anything else raises Untrusted."""
    lines = text.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise Untrusted(f"not a tlog-proof: the first line is not {TLOG_PROOF_HEADER}")
    at, extra = 1, None
    if len(lines) > at and lines[at].startswith("extra "):
        extra = b64decode(lines[at][6:], "tlog-proof extra data")
        at += 1
    index = lines[at][6:] if len(lines) > at and lines[at].startswith("index ") else ""
    if not _DECIMAL.fullmatch(index) or int(index) >= 2**64:
        raise Untrusted("not a tlog-proof: no 'index N' line where it belongs")
    at += 1
    proof: list[bytes] = []
    while at < len(lines) and lines[at] != "":
        digest = b64decode(lines[at], "tlog-proof hash")
        if len(digest) != 32 or len(proof) == MAX_PROOF_HASHES:
            raise Untrusted("not a tlog-proof: its inclusion proof is not at most 64 hashes")
        proof.append(digest)
        at += 1
    if at >= len(lines) - 1:
        raise Untrusted("not a tlog-proof: no blank line and checkpoint after the proof")
    return TlogProof(int(index), tuple(proof), "\n".join(lines[at + 1 :]), extra)


def check_tlog_proof(
    text: str,
    leaf: bytes,
    key: VerifierKey,
    witnesses: Sequence[VerifierKey],
    quorum: int,
    report: Report,
) -> None:
    """An offline proof, with no network: the checkpoint is signed by the log key (and
    cosigned by `quorum` of the witnesses), and `leaf` is at the proof's index in it. Every
    fault lands in `report.failures`; nothing raises."""
    try:
        found = parse_tlog_proof(text)
        cp = open_checkpoint(found.checkpoint, key)
        when = "" if cp.time == "?" else f" {cp.time}"
        report.say("checkpoint", f"size {cp.size}, signed{when} by {key.name}, signature valid")
        check_quorum(cp, witnesses, quorum, report)
    except Untrusted as e:
        report.failures.append(str(e))
        return
    report.size = cp.size
    if found.extra is not None:
        report.warnings.append("the proof's extra data is not authenticated; it was not used")
    if not verify_inclusion(leaf, found.index, cp.size, found.proof, cp.root):
        report.failures.append(
            f"the inclusion proof of leaf {base64.b64encode(leaf).decode()} at index "
            f"{found.index} does not verify against the checkpoint of size {cp.size}"
        )
        return
    report.say("inclusion", f"leaf {found.index} of {cp.size}: {len(found.proof)} hashes verified")
    report.verdict_ok = (
        f"leaf {base64.b64encode(leaf).decode()} is leaf {found.index} of the tree of size "
        f"{cp.size} signed by {key.name}"
        + (f", cosigned by a quorum of {quorum}" if witnesses and quorum else "")
        + " (offline proof)"
    )


# -- the replay: every tool's figures from the events alone ---------------------------------------


MAX_TOPICS = 64
"""Topics whose kind the replay remembers (a log has a handful; a hostile export, any number)."""
SURFACES = (None, "api", "page")
"""Where a first vote may come from (Ballot.Cast version 2's `surface`; None: not recorded)."""


def percent(part: int, total: int) -> int | None:
    """Integer percentage rounded half up; None for no votes."""
    return (200 * part + total) // (2 * total) if total else None


def figures(choices: Iterable[str]) -> dict[str, Any]:
    """Ship, skip, total and ship % of the current decisions (anything but ship is a skip)."""
    decided = list(choices)
    ship, total = decided.count("ship"), len(decided)
    return {"ship": ship, "skip": total - ship, "total": total, "ship_pct": percent(ship, total)}


class Ballots:
    """Every ballot's current leaf and choice, in two flat arrays of 64-bit words (open
    addressing, linear probing): about 40 bytes a ballot where a dict of tuples keyed by the
    voter's name took 250, so the recount of a million ballots fits in a few dozen MiB.

    A ballot's key is a 64-bit blake2b of its tool and voter under a key drawn for this run, so
    a log cannot make two ballots collide on purpose; an accidental collision (about n² / 2^65)
    would show as a vote contradicting the log (a cast on a ballot already cast), never hide
    one. Its word: tool number << 34 | leaf << 2 | LIVE | SHIP; a retracted ballot keeps its
    key with LIVE cleared (nothing is ever removed)."""

    LIVE, SHIP = 2, 1
    _MIN_SLOTS = 1 << 10

    def __init__(self) -> None:
        self._secret = os.urandom(16)
        self._keys = array("Q", bytes(8 * self._MIN_SLOTS))
        self._words = array("Q", bytes(8 * self._MIN_SLOTS))
        self._used = 0

    def prefix(self, slug: str) -> Any:
        """The keyed hash fed a tool's part of the name: a tool's ballots copy it."""
        named = f"{len(slug)}:{slug}".encode()  # the length keeps the two names apart
        return hashlib.blake2b(named, digest_size=8, key=self._secret)

    def _slot(self, key: int) -> int:
        keys, mask = self._keys, len(self._keys) - 1
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key or found == 0:
                return slot
            slot = (slot + 1) & mask

    def find_voter(self, prefix: Any, voter: str) -> tuple[int, int, int]:
        """(key, slot, word) of the voter's ballot on the tool of `prefix`: put_at that slot,
        before any other put. One call, as the replay asks once per ballot event."""
        hasher = prefix.copy()
        hasher.update(voter.encode())
        key = int.from_bytes(hasher.digest(), "little") | 1  # never 0, the empty slot's key
        keys, mask = self._keys, len(self._keys) - 1
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key or found == 0:
                return key, slot, self._words[slot]
            slot = (slot + 1) & mask

    def put_at(self, slot: int, key: int, word: int) -> None:
        if self._keys[slot] == 0:
            self._keys[slot] = key
            self._used += 1
        self._words[slot] = word
        if 3 * self._used > 2 * len(self._keys):
            self._grow()

    def _grow(self) -> None:
        keys, words = self._keys, self._words
        self._keys = array("Q", bytes(16 * len(keys)))
        self._words = array("Q", bytes(16 * len(keys)))
        for key, word in zip(keys, words, strict=True):
            if key:
                slot = self._slot(key)
                self._keys[slot], self._words[slot] = key, word

    def live_words(self) -> Iterator[int]:
        return (word for word in self._words if word & self.LIVE)


CHOICE_OF: tuple[str | None, ...] = (None, None, "skip", "ship")
"""The choice a ballot word holds, by its LIVE and SHIP bits (None: no current ballot); a tuple
read, as the replay asks once per ballot event."""


@dataclass
class ToolFigures:
    number: int = 0
    """The tool's place in listing order, its number in the ballot words."""
    prefix: Any = field(default=None, compare=False, repr=False)
    """Ballots.prefix of its slug."""
    status: str = "listed"
    seats: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    """seat -> (leaf index, log position, decision) of its current verdict, in seat order."""
    ship: int = 0
    live: int = 0
    """Current ballots choosing ship, and current ballots (voided ones are neither)."""
    voided: dict[str, str] = field(default_factory=dict)
    """voter -> the choice a moderator's void took out of the tally."""

    def panel(self) -> dict[str, Any]:
        return figures(decision for *_, decision in self.seats.values())

    def community(self) -> dict[str, Any]:
        """The tally without voided ballots, and how many were voided."""
        ship, total = self.ship, self.live
        return {
            "ship": ship,
            "skip": total - ship,
            "total": total,
            "ship_pct": percent(ship, total),
            "voided": len(self.voided),
        }


class Replay:
    """Panel: the current verdict per seat. Community: the current ballot per voter (in
    `Ballots`). A delisted tool keeps its figures. Events that contradict the state (a change
    of a vote never cast) are reported: a consistent log has none."""

    def __init__(self) -> None:
        self.tools: dict[str, ToolFigures] = {}
        self.problems: list[str] = []
        self.surfaces: dict[str, int] = {}
        """First votes (Ballot.Cast) by the surface they came from; "not recorded" for those
        stored before Cast version 2 (and v2 ones that name none)."""
        self.ballots = Ballots()
        self._grouped: tuple[list[int], array[int]] | None = None
        self._kinds: dict[str, str] = {}
        """Topic -> its kind, "" for a kind the replay skips: a log has a handful of topics."""

    def apply(self, leaf: int, event: dict[str, Any]) -> None:
        topic = event.get("topic", "")
        kind = self._kinds.get(topic) if type(topic) is str else None
        if kind is None:
            kind = str(topic).rpartition(":")[2]
            if not kind.startswith(("Tool.", "Panel.", "Ballot.")):
                kind = ""
            if type(topic) is str and len(self._kinds) < MAX_TOPICS:
                self._kinds[topic] = kind
        state = event.get("state")
        if not kind or not isinstance(state, dict):
            return
        try:
            self._apply(leaf, int(event["position"]), kind, state)
        except (KeyError, TypeError, ValueError) as e:
            self.problems.append(f"leaf {leaf}: {kind} lacks a readable field ({e})")

    def _apply(self, leaf: int, position: int, kind: str, state: dict[str, Any]) -> None:
        slug = state["tool"]
        if kind == "Tool.Listed":
            if slug not in self.tools:
                prefix = self.ballots.prefix(slug)
                self.tools[slug] = ToolFigures(number=len(self.tools), prefix=prefix)
            return
        tool = self.tools.get(slug)
        if tool is None:
            self.problems.append(f"leaf {leaf}: {kind} on tool {slug!r}, never listed")
            return
        if kind.startswith("Ballot."):  # most events: tested first
            if kind in ("Ballot.Voided", "Ballot.Restored"):
                self._moderate(leaf, kind, slug, tool, state)
            else:
                self._ballot(leaf, kind, slug, tool, state)
        elif kind == "Tool.Delisted":
            tool.status = "delisted"
        elif kind in ("Panel.VerdictPublished", "Panel.VerdictAmended"):
            seat, decision = state["seat"], state["decision"]
            if (seat in tool.seats) != (kind == "Panel.VerdictAmended"):
                self.problems.append(f"leaf {leaf}: {kind} on seat {seat!r} of {slug!r}")
            self._decision(leaf, decision)
            tool.seats[seat] = (leaf, position, decision)
        elif kind == "Panel.VerdictRetracted" and tool.seats.pop(state["seat"], None) is None:
            self.problems.append(f"leaf {leaf}: retraction of an empty seat of {slug!r}")

    def _ballot(
        self, leaf: int, kind: str, slug: str, tool: ToolFigures, state: dict[str, Any]
    ) -> None:
        voter = state["actor"]
        if not isinstance(voter, str):
            raise TypeError(f"actor {voter!r} is not a name")
        if tool.voided and voter in tool.voided:
            self.problems.append(f"leaf {leaf}: {kind} by {voter!r}, voided on {slug!r}")
            return
        key, slot, word = self.ballots.find_voter(tool.prefix, voter)
        current = CHOICE_OF[word & 3]
        if kind == "Ballot.Cast":
            if current is not None:
                self.problems.append(f"leaf {leaf}: {kind} while {voter!r} has a ballot")
            self._surface(leaf, state)
        elif kind in ("Ballot.Changed", "Ballot.Retracted"):
            if current is None or current != state["previous"]:
                self.problems.append(
                    f"leaf {leaf}: {kind} says the ballot of {voter!r} on {slug!r} was "
                    f"{state['previous']!r}, the log says {current!r}"
                )
        elif current is not None:
            self.problems.append(f"leaf {leaf}: {kind} while {voter!r} has a ballot")
        if kind == "Ballot.Retracted":
            self._set(slot, key, tool, current, None, leaf)
        else:
            choice = state["choice"]
            if choice != "ship" and choice != "skip":
                self._decision(leaf, choice)
            self._set(slot, key, tool, current, choice, leaf)

    def _set(
        self,
        slot: int,
        key: int,
        tool: ToolFigures,
        current: str | None,
        choice: str | None,
        leaf: int,
    ) -> None:
        """The ballot (at `slot`) now holds `choice` (None: none) from `leaf`; the tool's
        counts follow."""
        tool.live += (choice is not None) - (current is not None)
        tool.ship += (choice == "ship") - (current == "ship")
        word = 0
        if choice is not None:
            word = tool.number << 34 | leaf << 2 | Ballots.LIVE | (choice == "ship")
        self.ballots.put_at(slot, key, word)
        self._grouped = None

    def _moderate(
        self, leaf: int, kind: str, slug: str, tool: ToolFigures, state: dict[str, Any]
    ) -> None:
        """A void takes the voter's current ballot (`previous`) out of the tally; a restore
        puts the voided choice back, resting on the restore's leaf. `actor` is the moderator."""
        voter = state["voter"]
        if not isinstance(voter, str):
            raise TypeError(f"voter {voter!r} is not a name")
        key, slot, word = self.ballots.find_voter(tool.prefix, voter)
        current = CHOICE_OF[word & 3]
        if kind == "Ballot.Voided":
            if current is None or current != state["previous"]:
                self.problems.append(
                    f"leaf {leaf}: a void of {voter!r} on {slug!r} removes "
                    f"{state['previous']!r}, the log says {current!r}"
                )
            self._set(slot, key, tool, current, None, leaf)
            tool.voided[voter] = state["previous"]
            return
        voided = tool.voided.pop(voter, None)
        if voided is None or voided != state["choice"]:
            self.problems.append(
                f"leaf {leaf}: a restore of {voter!r} on {slug!r} gives back "
                f"{state['choice']!r}, the void took {voided!r}"
            )
        self._decision(leaf, state["choice"])
        self._set(slot, key, tool, current, state["choice"], leaf)

    def _surface(self, leaf: int, state: dict[str, Any]) -> None:
        """Both shapes of a Cast: version 1 (no `class_version`) recorded no surface; version 2
        names one, or null."""
        version = state.get("class_version", 1)
        surface = state.get("surface")
        if version not in (1, 2) or (version == 2 and "surface" not in state):
            self.problems.append(f"leaf {leaf}: Ballot.Cast of an unknown shape (v{version})")
        elif surface not in SURFACES:
            self.problems.append(f"leaf {leaf}: Ballot.Cast from surface {surface!r}")
        else:
            name = surface or "not recorded"
            self.surfaces[name] = self.surfaces.get(name, 0) + 1

    def _decision(self, leaf: int, value: object) -> None:
        if value not in ("ship", "skip"):
            self.problems.append(f"leaf {leaf}: decision {value!r} is neither ship nor skip")

    def ballots_of(self, slug: str) -> list[tuple[int, str]]:
        """(leaf index, choice) of the tool's current ballots, in leaf order. The first call
        sorts every live ballot by tool once (a counting sort into one array of words), so a
        tool's list costs its own ballots only."""
        tool = self.tools[slug]
        if self._grouped is None:
            self._grouped = self._group()
        starts, grouped = self._grouped
        words = sorted(grouped[starts[tool.number] : starts[tool.number] + tool.live])
        return [(w >> 2 & 0xFFFFFFFF, "ship" if w & Ballots.SHIP else "skip") for w in words]

    def _group(self) -> tuple[list[int], array[int]]:
        counts = [0] * (len(self.tools) + 1)
        for tool in self.tools.values():
            counts[tool.number + 1] = tool.live
        starts = list(itertools.accumulate(counts))
        grouped = array("Q", bytes(8 * starts[-1]))
        filled = starts[:-1]
        for word in self.ballots.live_words():
            number = word >> 34
            grouped[filled[number]] = word & 0x3FFFFFFFF
            filled[number] += 1
        return starts, grouped


# -- the checks -----------------------------------------------------------------------------------


@dataclass
class BadLeaf:
    index: int
    kind: str
    position: int | None
    after_position: int
    """The last log position before it, to place an event whose own position is lost."""


@dataclass
class Report:
    source: str
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    first_bad: BadLeaf | None = None
    bad_leaves: int = 0
    log_altered: str | None = None
    """Set when the recorded leaf hashes themselves miss a signed root."""
    size: int = 0
    events: int = 0
    summary: str = "signatures, leaves, roots, proofs and figures all check"
    started: float = field(default_factory=time.monotonic)
    trust: list[str] = field(default_factory=list)
    """What the trust checks found (FORK, QUORUM NOT MET, BROKEN PROMISE): they lead the
    verdict, before any fault in the leaves."""
    checkpoint: Checkpoint | None = None
    """The checkpoint the run rests on, to remember after a fully successful run."""
    state_path: Path | None = None
    pending: str | None = None
    """A receipt whose promise is not yet due."""
    verdict_ok: str | None = None
    """The whole OK verdict, where the default one (events up to a checkpoint) does not fit."""

    def say(self, label: str, text: str) -> None:
        self.lines.append(f"{label:<12}{text}")

    def all_failures(self) -> list[str]:
        """Every failure, the ones the verdict line should name first first."""
        leading = [describe(self.first_bad, self.bad_leaves)] if self.first_bad else []
        if self.log_altered:
            leading.insert(0, self.log_altered)
        return self.trust + leading + self.failures


@dataclass
class LeafRecord:
    recorded: bytes
    position: int | None


def _classify(
    line: Any, index: int, last_position: int, recorded: bytes
) -> tuple[str, bytes | None]:
    """What is wrong with one export line ("" for nothing), and the leaf recomputed from it."""
    event = line.get("event")
    if line.get("leaf_index") != index:
        return f"export line out of order (leaf_index {line.get('leaf_index')})", None
    if event is None:
        return "event missing (deleted from the store)", None
    if "state" not in event:
        return "state unreadable (no longer valid JSON)", None
    position = event.get("position")
    if not isinstance(position, int) or position <= last_position:
        return "positions out of order or duplicated", None
    mine = leaf_hash(canonical_json(event))
    return ("" if recorded == mine else "event changed"), mine


@dataclass
class LeafCheck:
    """What streaming the leaves found, in plain values (a worker process sends it back as
    JSON): the two trees' verdicts at each signed size, and the faulty leaves."""

    size: int = 0
    """Leaves read."""
    roots: int = 0
    """Signed roots reached."""
    events_fail: int = 0
    """Signed roots the recomputed leaves miss."""
    altered: list[tuple[int, int]] = field(default_factory=list)
    """(signed size, last size still good) where the recorded leaf hashes miss the root."""
    bad_leaves: int = 0
    first_bad: BadLeaf | None = None
    kept: dict[int, LeafRecord] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                **dataclasses.asdict(self),
                "kept": [[i, r.recorded.hex(), r.position] for i, r in self.kept.items()],
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> LeafCheck:
        found = json.loads(raw)
        bad = found["first_bad"]
        return cls(
            size=found["size"],
            roots=found["roots"],
            events_fail=found["events_fail"],
            altered=[(a, b) for a, b in found["altered"]],
            bad_leaves=found["bad_leaves"],
            first_bad=BadLeaf(**bad) if bad else None,
            kept={i: LeafRecord(bytes.fromhex(h), p) for i, h, p in found["kept"]},
        )


def check_leaves(
    lines: Iterable[bytes],
    signed: Sequence[tuple[int, bytes]],
    report: Report,
    replay: Replay,
    sample: set[int],
    workers: int = 1,
) -> dict[int, LeafRecord]:
    """Stream export lines up to the largest signed size: recompute every leaf and every signed
    root (O(log n) hashes in memory), localise the first bad leaf, feed the replay. Returns the
    recorded hash and position of the sampled leaves, for inclusion proofs. With 2 `workers`,
    a second process (this script, `--leaf-worker`) hashes the leaves and keeps the trees while
    this one replays: each decodes every line, and neither waits for the other."""
    size = max((cp_size for cp_size, _ in signed), default=0)
    head = itertools.islice(lines, size)
    if workers < 2:
        found = leaf_check(head, signed, sample, replay)
    else:
        found = _leaf_check_beside(head, signed, sample, replay)
    report.events = found.size
    report.bad_leaves += found.bad_leaves
    report.first_bad = report.first_bad or found.first_bad
    if found.size < size:
        report.failures.append(f"the export ends after {found.size} of {size} leaves")
    if found.altered:
        cp_size, before = found.altered[0]
        report.log_altered = (
            f"the recorded leaf hashes do not reproduce the signed root of size {cp_size}: the "
            f"log's records (or the export) were altered within leaves {before}..{cp_size - 1}"
        )
    elif report.first_bad is None and found.events_fail:
        report.failures.append("the events do not reproduce the signed roots")
    report.say(
        "leaves",
        f"{found.size} events recomputed; of {found.roots} signed roots, "
        f"{found.roots - found.events_fail} reproduced from the events, "
        f"{found.roots - len(found.altered)} from the log's recorded leaf hashes",
    )
    return found.kept


def leaf_check(
    lines: Iterable[bytes | str],
    signed: Sequence[tuple[int, bytes]],
    sample: set[int],
    replay: Replay | None = None,
) -> LeafCheck:
    """The leaves and roots of check_leaves, over lines already cut at the largest signed size;
    each event also fed to `replay`, if given."""
    signed = sorted(signed)
    recorded = CompactRange()
    recomputed: CompactRange | None = None
    """The tree of the recomputed leaves, split from the recorded one at the first leaf that
    differs from its record: until then the two are one tree, hashed once."""
    found = LeafCheck()
    good_size = last_position = 0
    sizes = [cp_size for cp_size, _ in signed] + [-1]

    def check_signed_roots() -> None:
        """Compare both trees with every signed root of the size they have reached."""
        nonlocal good_size
        while found.roots < len(signed) and signed[found.roots][0] == recorded.size:
            cp_size, cp_root = signed[found.roots]
            root = recorded.root()
            if root != cp_root:
                found.altered.append((cp_size, good_size))
            elif not found.altered:
                good_size = cp_size
            found.events_fail += (recomputed.root() if recomputed else root) != cp_root
            found.roots += 1

    for index, raw in enumerate(lines):
        if sizes[found.roots] == index:
            check_signed_roots()
        try:
            line = decode_line(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
            theirs = binascii.a2b_base64(line["leaf_hash"], strict_mode=True)
            kind, mine = _classify(line, index, last_position, theirs)
        except (ValueError, KeyError, TypeError, AttributeError):
            line, theirs, kind, mine = {}, bytes(32), "export line unreadable", None
        event = line.get("event")
        if not isinstance(event, dict):
            event = {}
        position = event.get("position", line.get("position"))  # the log's record, if gone
        if kind:
            found.bad_leaves += 1
            if found.first_bad is None:
                known = position if isinstance(position, int) else None
                found.first_bad = BadLeaf(index, kind, known, last_position)
        if replay is not None and "state" in event:
            replay.apply(index, event)
        if isinstance(position, int) and position > last_position:
            last_position = position
        leaf = mine or bytes(32)
        if recomputed is None and leaf != theirs:
            recomputed = recorded.copy()
        recorded.append(theirs)
        if recomputed is not None:
            recomputed.append(leaf)
        if index in sample:
            found.kept[index] = LeafRecord(theirs, position if isinstance(position, int) else None)
    check_signed_roots()
    found.size = recorded.size
    return found


def replayable(raw: bytes) -> dict[str, Any] | None:
    """The event of an export line that leaf_check would feed to the replay, else None: the
    line decodes, its leaf hash is base64 and its event an object with a state."""
    try:
        line = decode_line(raw.decode("utf-8"))
        binascii.a2b_base64(line["leaf_hash"], strict_mode=True)
        event = line.get("event")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return event if isinstance(event, dict) and "state" in event else None


WORKER_BATCH = 2000
"""Lines written to the leaf worker at a time."""


def _leaf_check_beside(
    lines: Iterable[bytes],
    signed: Sequence[tuple[int, bytes]],
    sample: set[int],
    replay: Replay,
) -> LeafCheck:
    """leaf_check in a worker process fed the raw lines through a pipe, the replay here."""
    worker = subprocess.Popen(  # noqa: S603 - this very script, no shell
        [sys.executable, os.path.abspath(__file__), "--leaf-worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert worker.stdin is not None
    assert worker.stdout is not None
    try:
        with contextlib.suppress(BrokenPipeError):  # the worker is gone: its exit code says why
            _feed(worker.stdin, lines, signed, sample, replay)
        answer = worker.stdout.read()
    except BaseException:
        worker.kill()  # the audit stops here: the worker's answer would not be read
        raise
    finally:
        with contextlib.suppress(BrokenPipeError):  # lost with the worker, which is reported
            worker.stdin.close()
        worker.wait()
        worker.stdout.close()
    if worker.returncode != 0:
        raise Unavailable(f"the leaf worker process failed (exit {worker.returncode})")
    return LeafCheck.from_json(answer)


def _feed(
    pipe: Any,
    lines: Iterable[bytes],
    signed: Sequence[tuple[int, bytes]],
    sample: set[int],
    replay: Replay,
) -> None:
    """The worker's header and every line, in batches, replaying each here on the way."""
    header = {"signed": [[n, root.hex()] for n, root in signed], "sample": sorted(sample)}
    pipe.write(json.dumps(header).encode() + b"\n")
    batch: list[bytes] = []
    apply = replay.apply
    for index, raw in enumerate(lines):
        batch.append(raw if raw.endswith(b"\n") else raw + b"\n")
        if len(batch) == WORKER_BATCH:
            pipe.write(b"".join(batch))
            batch.clear()
        event = replayable(raw)
        if event is not None:
            apply(index, event)
    pipe.write(b"".join(batch))
    pipe.close()


def leaf_worker() -> int:
    """`--leaf-worker`: leaf_check over the lines on stdin, after a header line naming the
    signed roots and the sampled leaves; its LeafCheck as JSON on stdout."""
    source = sys.stdin.buffer
    header = json.loads(source.readline())
    signed = [(n, bytes.fromhex(root)) for n, root in header["signed"]]
    found = leaf_check(source, signed, set(header["sample"]))
    sys.stdout.buffer.write(found.to_json())
    return 0


def compare_figures(
    replay: Replay,
    service: Service,
    report: Report,
    latest: Checkpoint,
    rng: random.Random | None = None,
) -> None:
    """Each tool's status, panel and score proof as the score pages publish them at the
    checkpoint's size (`/v1/audit/scores`, one request per page of tools), against the replay;
    no tool published that no event listed; and the tool's own page (`/v1/tools/{slug}?as_of=`)
    of the first, the last and a random sample of the tools, so a service cannot answer the
    audit's pages honestly and show other figures on the tools' (`rng` picks the sample: a
    fresh one per run, which the service cannot foresee)."""
    size, matched, note = latest.size, 0, note_text(latest.note)
    published: set[str] = set()
    for found in service.scores(size):
        entry, slug = found.entry, str(found.entry.get("tool"))
        tool = replay.tools.get(slug)
        published.add(slug)
        if tool is None:
            report.failures.append(f"tool {slug!r} is published at size {size}; no event lists it")
            continue
        wrong = [
            f"tool {slug!r} at size {size}: {name} published {_short(theirs)}, "
            f"replay gives {_short(mine)}"
            for name, mine, theirs in _comparisons(replay, slug, tool, entry)
            if mine != theirs
        ]
        if found.notes != {note}:
            wrong.append(f"tool {slug!r}: its score proof rests on another checkpoint")
        if not found.parts_agree:
            wrong.append(f"tool {slug!r}: its parts on the score pages disagree")
        report.failures += wrong
        matched += not wrong
    for slug in sorted(replay.tools.keys() - published):
        report.failures.append(f"tool {slug!r}: the API does not know it at size {size}")
    for slug in service.all_slugs():  # the catalog must not list a tool the score pages omit
        path = f"/v1/tools/{urllib.parse.quote(slug)}"
        unknown = slug not in replay.tools and slug not in published
        if unknown and service.tool(path, {"as_of": size}) is not None:
            report.failures.append(f"tool {slug!r} is published at size {size}; no event lists it")
    sampled = sample_tools(sorted(replay.tools), rng or random.Random())
    pages = sum(_compare_tool_page(replay, service, report, slug, size) for slug in sampled)
    report.say(
        "figures",
        f"{len(replay.tools)} tools replayed; {matched} match the score pages (status, panel "
        f"and score proof at size {size}) exactly; {pages}/{len(sampled)} tool pages "
        f"(?as_of={size}: first, last and a random sample) match too{_voided(replay)}",
    )
    say_surfaces(replay, report)


def sample_tools(slugs: Sequence[str], rng: random.Random, n: int = TOOL_SAMPLE) -> list[str]:
    """The first and last of `slugs` and a random n - 2 of the rest (all of them, if fewer)."""
    if len(slugs) <= n:
        return list(slugs)
    inner = rng.sample(range(1, len(slugs) - 1), n - 2)
    return [slugs[i] for i in [0, *sorted(inner), len(slugs) - 1]]


def _compare_tool_page(
    replay: Replay, service: Service, report: Report, slug: str, size: int
) -> bool:
    """The tool's own page as of `size` against the replay: whether it matches."""
    doc = service.tool(f"/v1/tools/{urllib.parse.quote(slug)}", {"as_of": size})
    if not isinstance(doc, dict):
        report.failures.append(f"tool {slug!r}: its page does not know it at size {size}")
        return False
    tool = replay.tools[slug]
    panel = doc.get("panel") or {}
    comparisons = [
        ("status", tool.status, doc.get("status")),
        ("panel", tool.panel(), _figures(panel)),
        (
            "verdicts",
            [{"seat": s, "decision": d, "position": p} for s, (_, p, d) in tool.seats.items()],
            [
                {k: v.get(k) for k in ("seat", "decision", "position")}
                for v in panel.get("verdicts") or []
                if isinstance(v, dict)
            ],
        ),
        ("community", tool.community(), _community(doc.get("community"))),
    ]
    wrong = [
        f"tool {slug!r}: its page (as_of={size}) publishes {name} {_short(theirs)}, "
        f"replay gives {_short(mine)}"
        for name, mine, theirs in comparisons
        if mine != theirs
    ]
    report.failures += wrong
    return not wrong


def _comparisons(
    replay: Replay, slug: str, tool: ToolFigures, entry: dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    """(what, the replay's, the API's) for one tool's entry on a score page."""
    panel, community = tool.panel(), tool.community()
    seats = tool.seats.items()
    published = entry.get("panel") or {}
    score = entry.get("score") or {}
    proof_community = score.get("community") or {}
    return [
        ("status", tool.status, entry.get("status")),
        ("panel", panel, _figures(published)),
        (
            "verdicts",
            [{"seat": s, "decision": d, "position": p} for s, (_, p, d) in seats],
            published.get("verdicts"),
        ),
        ("community", community, _community(proof_community)),
        ("score-proof panel", panel, _figures(score.get("panel"))),
        (
            "score-proof verdicts",
            [{"seat": s, "decision": d, "leaf_index": i} for s, (i, _, d) in sorted(seats)],
            (score.get("panel") or {}).get("verdicts"),
        ),
        (
            "score-proof ballots",
            [{"leaf_index": i, "choice": c} for i, c in replay.ballots_of(slug)],
            proof_community.get("ballots"),
        ),
    ]


def say_surfaces(replay: Replay, report: Report) -> None:
    """Where the first votes came from, when any were cast."""
    if replay.surfaces:
        counts = ", ".join(f"{name} {n}" for name, n in sorted(replay.surfaces.items()))
        report.say("first votes", f"by surface: {counts}")


def _voided(replay: Replay) -> str:
    """How many ballots moderators voided, where any were: the recount leaves them out."""
    voided = sum(len(tool.voided) for tool in replay.tools.values())
    return f"; {voided} voided ballot(s) left out of the tallies" if voided else ""


def _figures(doc: Any) -> dict[str, Any] | None:
    return {k: doc.get(k) for k in ("ship", "skip", "total", "ship_pct")} if doc else None


def _community(doc: Any) -> dict[str, Any] | None:
    """The community figures and how many ballots were voided (0 where none ever were)."""
    figures = _figures(doc)
    return {**figures, "voided": doc.get("voided", 0)} if figures is not None else None


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def check_proofs(
    service: Service,
    pairs: Sequence[tuple[Checkpoint, Checkpoint]],
    latest: Checkpoint,
    kept: dict[int, LeafRecord],
    report: Report,
) -> None:
    """The API's consistency proofs between signed checkpoints and inclusion proofs of the
    sampled leaves, verified against the signed roots only."""
    consistent = 0
    for first, second in pairs:
        got = service.json(
            "/v1/audit/proofs/consistency", {"first": first.size, "second": second.size}
        )
        proof = [b64decode(p, "consistency proof") for p in got["proof"]]
        if verify_consistency(first.size, second.size, first.root, second.root, proof):
            consistent += 1
        else:
            report.failures.append(
                f"consistency proof {first.size} -> {second.size} does not verify: the signed "
                "trees are not one growing log"
            )
    included = 0
    for index, leaf in sorted(kept.items()):
        got = service.json("/v1/audit/proofs/inclusion", {"index": index, "size": latest.size})
        proof = [b64decode(p, "inclusion proof") for p in got["proof"]]
        if report.first_bad is not None and report.first_bad.index == index:
            report.first_bad.position = got["position"]  # the log's record names it, even deleted
        if not verify_inclusion(leaf.recorded, index, latest.size, proof, latest.root):
            report.failures.append(f"inclusion proof of leaf {index} does not verify")
        elif leaf.position is not None and got["position"] != leaf.position:
            report.failures.append(
                f"leaf {index}: the log says position {got['position']}, the export {leaf.position}"
            )
        else:
            included += 1
    report.say(
        "proofs",
        f"{consistent}/{len(pairs)} consistency and {included}/{len(kept)} inclusion proofs "
        "verified against the signed roots",
    )


# -- sources: a running ledger, or an export file -------------------------------------------------


class Unavailable(Exception):
    """The audit cannot be completed for want of an answer: a connection refused or lost, a
    timeout, an answer cut short, an HTTP error status (a 503 once its retries are spent, a
    422 once the views never caught up): exit 2, no verdict. It proves nothing against the
    ledger, and it is never OK. What did arrive whole and is wrong is BadAnswer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadAnswer(Exception):
    """What the source under audit sent whole is not what an honest ledger sends (a score page
    of the wrong shape, pages that loop or do not progress, a body that is not JSON, a line
    past MAX_LINE): a lie or a broken ledger, so the audit ends with a FAILED verdict (exit 1)
    naming it. Unavailable is for what did not arrive."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None  # only the URL given: a redirect is reported, never followed


@dataclass
class ScoreEntry:
    """One tool of the score pages, its parts joined."""

    entry: dict[str, Any]
    notes: set[str | None]
    """The checkpoint notes of the pages it came on (one, on an honest service)."""
    parts_agree: bool = True


class Service:
    """Plain HTTP to one base URL: a timeout on every call, no proxies, no redirects."""

    def __init__(self, base: str, timeout: float = TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Unavailable(f"{base!r} is not an http(s) URL")
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)

    def open(self, path: str, params: dict[str, Any] | None = None) -> Any:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        for attempt in range(1, UNAVAILABLE_ATTEMPTS + 1):
            try:
                return self.opener.open(url, timeout=self.timeout)
            except urllib.error.HTTPError as e:
                wait = _retry_after(e.headers.get("Retry-After"))
                e.close()
                if e.code != 503 or attempt == UNAVAILABLE_ATTEMPTS:
                    raise Unavailable(f"GET {url} answered {e.code}", e.code) from None
                time.sleep(wait)
            except OSError as e:  # URLError, timeouts, refused connections
                raise Unavailable(f"GET {url}: {e}") from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def text(self, path: str, params: dict[str, Any] | None = None) -> str:
        return self.body(path, params).decode("utf-8")

    def body(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        """The whole body of a 200 answer; Unavailable if it does not arrive whole."""
        with self.open(path, params) as response:
            try:
                return bytes(response.read())
            except (OSError, http.client.HTTPException) as e:  # cut short, reset, timed out
                raise Unavailable(f"GET {path}: the answer was lost on the way: {e!r}") from None

    def json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return json.loads(self.text(path, params))

    def lines(self, size: int, page: int = PAGE) -> Iterator[bytes]:
        """The export of leaves 0 .. size - 1, one request per page, read in blocks of
        READ_BLOCK bytes cut at their newlines: reading a chunked answer line by line cost more
        than checking the line, and a whole page held at once cost 10 bytes per live ballot.
        The next page is asked for while this one is read (a thread waits for its first
        byte): the server takes ~70 ms to begin a page of 10,000 leaves at 1.5M events, a
        fifth of an HTTP audit's time when the two took turns. A page that comes back with
        another count drops the request made ahead, unread, and goes on from where it ended
        (nothing: the end)."""

        def ask(after: int) -> Future[Any]:
            return ahead.submit(
                self.open, "/v1/audit/events", {"after": after, "limit": min(page, size - after)}
            )

        after = 0
        with ThreadPoolExecutor(1, thread_name_prefix="verify-next-page") as ahead:
            asked = ask(0) if size > 0 else None
            while asked is not None:
                limit = min(page, size - after)
                following = ask(after + limit) if after + limit < size else None
                got, read = 0, False
                try:
                    with asked.result() as r:
                        for lines in _split_lines(r):
                            got += len(lines)
                            yield from lines
                    read = True
                except (OSError, http.client.HTTPException) as e:  # cut short, reset, timed out
                    raise Unavailable(
                        f"GET /v1/audit/events: a page lost on the way: {e!r}"
                    ) from None
                finally:
                    if following is not None and (not read or got != limit):
                        _drop(following)
                if got == 0:
                    return
                after += got
                asked = following if got == limit else ask(after) if after < size else None

    def tool(self, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """A tool document, None if unknown (404); waits up to 5 s for the views (422)."""
        for _ in range(20):
            try:
                found: dict[str, Any] = self.json(path, params)
                return found
            except Unavailable as e:
                if e.status == 404:
                    return None
                if e.status != 422:
                    raise
            time.sleep(0.25)
        raise Unavailable(f"GET {path}: the views never reached {params}")

    def scores(self, size: int) -> Iterator[ScoreEntry]:
        """Each tool's entry of `/v1/audit/scores` at `size` with its page's checkpoint note,
        page by page in slug order; a tool whose ballots span pages comes once, its ballots
        joined. The pages must make progress within what a tree of `size` leaves can hold:
        each later part of a tool adds ballots, and there are no more tools, nor ballots, than
        leaves. A page of another shape (`_page_shape`), pages out of slug order, whose cursors
        loop, or that do not make progress are BadAnswer, a FAILED audit (a service could
        otherwise send one tool for ever with fresh cursors)."""
        params: dict[str, Any] = {"size": size}
        cursors: set[str] = set()
        held: ScoreEntry | None = None
        tools = ballots = 0
        while True:
            page = self._scores_page(params)
            note = (page.get("checkpoint") or {}).get("note")
            for entry in page["tools"]:
                ballots += _ballot_count(entry)
                if ballots > size:
                    raise BadAnswer(
                        f"GET /v1/audit/scores: more ballots than the {size} leaves signed"
                    )
                if held is not None and held.entry.get("tool") == entry.get("tool"):
                    if not _ballot_count(entry):
                        raise BadAnswer(
                            f"GET /v1/audit/scores: tool {entry.get('tool')!r} continues on a "
                            "page with no ballots of it"
                        )
                    held.parts_agree &= _join_ballots(held.entry, entry)
                    held.notes.add(note_text(note))
                    continue
                tools += 1
                if tools > size:
                    raise BadAnswer(
                        f"GET /v1/audit/scores: more tools than the {size} leaves signed"
                    )
                if held is not None:
                    if str(entry.get("tool")) <= str(held.entry.get("tool")):
                        raise BadAnswer("GET /v1/audit/scores: its pages are not in slug order")
                    yield held
                held = ScoreEntry(entry, {note_text(note)})
            following = page.get("next")
            if not following or not page["tools"]:
                break
            if following in cursors:
                raise BadAnswer("GET /v1/audit/scores: its pages loop")
            cursors.add(following)
            params = {"size": size, "after": following}
        if held is not None:
            yield held

    def _scores_page(self, params: dict[str, Any]) -> dict[str, Any]:
        """One page, its shape checked (`_page_shape`); waits up to 5 s for the views to reach
        the size (422)."""
        for _ in range(20):
            try:
                raw = self.body("/v1/audit/scores", params)
            except Unavailable as e:
                if e.status != 422:
                    raise
                time.sleep(0.25)
                continue
            try:
                page = json.loads(raw)
            except ValueError:  # UnicodeDecodeError too
                raise BadAnswer("GET /v1/audit/scores: a page that is not JSON") from None
            return _page_shape(page)
        raise Unavailable(f"GET /v1/audit/scores: the views never reached {params}")

    def all_slugs(self) -> list[str]:
        """Every tool, delisted ones too, following the list's `next` page by page."""
        slugs: list[str] = []
        params: dict[str, Any] = {"include_delisted": "true"}
        while True:
            page = self.json("/v1/tools", params)
            found = [str(t["slug"]) for t in page["tools"]]
            slugs += found
            following = page.get("next")
            if not following or not found:
                return slugs
            if len(set(slugs)) < len(slugs):  # a list that loops would never end
                raise Unavailable("GET /v1/tools: its pages list a tool twice")
            params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(following).query))


def _drop(asked: Future[Any]) -> None:
    """Close the answer of a request made ahead and not needed (or its failure: it was never
    read, so it says nothing about the log)."""
    with contextlib.suppress(Unavailable):
        asked.result().close()


def _split_lines(response: Any) -> Iterator[list[bytes]]:
    """The lines of an answer read in READ_BLOCK blocks, without their newlines (and the last
    one, if it has none), a list per block. A line's pieces are joined once, when its newline
    comes, so a long line costs its length; past MAX_LINE bytes it is BadAnswer, not held (no
    event of this ledger comes near: its fields are bounded by domain/rules.py)."""
    pieces: list[bytes] = []
    held = 0
    while block := response.read(READ_BLOCK):
        lines = block.split(b"\n")
        if len(lines) == 1:  # no newline: the line goes on
            pieces.append(block)
            held += len(block)
            if held > MAX_LINE:
                raise BadAnswer(f"GET /v1/audit/events: a line longer than {MAX_LINE} bytes")
            continue
        if pieces:
            lines[0] = b"".join(pieces) + lines[0]
            if len(lines[0]) > MAX_LINE:
                raise BadAnswer(f"GET /v1/audit/events: a line longer than {MAX_LINE} bytes")
        rest = lines.pop()
        pieces, held = ([rest], len(rest)) if rest else ([], 0)
        yield lines
    if pieces:
        yield [b"".join(pieces)]


_ENTRY_OBJECTS = ("panel", "score", "score.panel", "score.community")
_ENTRY_LISTS = ("score.community.ballots", "score.community.voids")
"""What a score page's entry must hold, and of which type, for it to be compared at all: the
values inside are compared with the replay (a wrong one is a wrong figure)."""


def _page_shape(page: Any) -> dict[str, Any]:
    """A score page of the documented shape (docs/audit.md), else BadAnswer saying where it is
    not: an object with a list of tool entries, `next` a cursor or null, `checkpoint` an
    object; each entry with its slug and the objects and lists `_ENTRY_*` name."""
    what = "GET /v1/audit/scores: a page"
    if not isinstance(page, dict):
        raise BadAnswer(f"{what} that is not an object")
    if not isinstance(page.get("tools"), list):
        raise BadAnswer(f"{what} whose tools are not a list")
    if not isinstance(page.get("next"), str | None):
        raise BadAnswer(f"{what} whose next is not a cursor or null")
    if not isinstance(page.get("checkpoint"), dict | None):
        raise BadAnswer(f"{what} whose checkpoint is not an object")
    for i, entry in enumerate(page["tools"]):
        if not isinstance(entry, dict):
            raise BadAnswer(f"{what} whose tool {i} is not an object")
        slug = entry.get("tool")
        if not isinstance(slug, str):
            raise BadAnswer(f"{what} whose tool {i} has no slug")
        for name, kind, label in [
            *((name, dict, "object") for name in _ENTRY_OBJECTS),
            *((name, list, "list") for name in _ENTRY_LISTS),
        ]:
            value: Any = entry
            for key in name.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            if not isinstance(value, kind):
                raise BadAnswer(f"{what} whose tool {i} ({slug!r}) has no {name} {label}")
    return page


def _ballot_count(entry: dict[str, Any]) -> int:
    """How many ballots a part of a tool's entry carries (0 where it has no list)."""
    ballots = ((entry.get("score") or {}).get("community") or {}).get("ballots")
    return len(ballots) if isinstance(ballots, list) else 0


def _join_ballots(entry: dict[str, Any], part: dict[str, Any]) -> bool:
    """The next part of a tool's entry: its ballots follow the ones held. Whether all else in
    it (figures, status, verdicts) is the first part's."""
    held = (entry.get("score") or {}).get("community") or {}
    more = (part.get("score") or {}).get("community") or {}
    ballots, following = held.get("ballots"), more.get("ballots")
    if not isinstance(ballots, list) or not isinstance(following, list):
        raise BadAnswer(f"GET /v1/audit/scores: tool {entry.get('tool')!r} has no ballot list")
    ballots += following
    return _without_ballots(part) == _without_ballots(entry)


def _without_ballots(entry: dict[str, Any]) -> dict[str, Any]:
    """All of an entry but its ballots and voids (a tool's voids come on its first part)."""
    score = entry["score"]
    community = {**score["community"], "ballots": None, "voids": None}
    return {**entry, "score": {**score, "community": community}}


def _retry_after(value: str | None) -> float:
    """Seconds a 503's Retry-After asks for (1 when absent or a date), within bounds."""
    try:
        seconds = float(value or 1)
    except ValueError:
        return 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else 1.0


def fetch_checkpoints(
    service: Service, key: VerifierKey, latest: Checkpoint, report: Report
) -> list[Checkpoint]:
    """Every stored checkpoint up to the latest, each signature verified, sizes increasing."""
    found: list[Checkpoint] = []
    after: int | None = 0
    while after is not None and after < latest.size:
        page = service.json("/v1/audit/checkpoints", {"after": after, "limit": 1000})
        for item in page["checkpoints"]:
            if item["size"] > latest.size:
                break
            try:
                cp = open_checkpoint(item["note"], key)
            except Untrusted as e:
                report.failures.append(f"stored checkpoint of size {item['size']}: {e}")
                continue
            if cp.size != item["size"] or base64.b64encode(cp.root).decode() != item["root"]:
                report.failures.append(f"checkpoint of size {cp.size}: its fields are not its note")
            if found and cp.size <= found[-1].size:
                report.failures.append(f"checkpoint sizes do not grow at {cp.size}")
            if found and cp.time < found[-1].time:
                report.warnings.append(f"checkpoint of size {cp.size} is signed before its prior")
            found.append(cp)
        after = page["next_after"]
    if not found or note_text(found[-1].note) != note_text(latest.note):
        report.failures.append("the latest checkpoint is not the last stored checkpoint")
        found.append(latest)
    return found


def load_key(given: str | None, served: str, report: Report) -> VerifierKey:
    if given is None:
        report.warnings.append(
            "TRUSTING THE KEY FROM THE SOURCE UNDER AUDIT: that proves nothing against a "
            "dishonest ledger; pass --public-key obtained elsewhere"
        )
    elif served and served.strip() != given.strip():
        report.warnings.append("the source names another key than the --public-key given")
    key = parse_verifier_key(given or served)
    report.say("key", f"{key.name}+{key.key_id.hex()}" + ("" if given else " (NOT independent)"))
    return key


def load_known(
    paths: Sequence[str], key: VerifierKey, stored: Sequence[Checkpoint], report: Report
) -> list[Checkpoint]:
    """Checkpoints the auditor kept from earlier audits: each must be signed, within the log,
    and agree with any stored checkpoint of its size. Returns those of sizes not stored."""
    by_size = {cp.size: cp.root for cp in stored}
    latest, unstored = max(by_size), []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            cp = open_checkpoint(f.read(), key)
        if cp.size > latest:
            report.failures.append(f"ROLLBACK: a known checkpoint has size {cp.size} > {latest}")
        elif by_size.get(cp.size, cp.root) != cp.root:
            report.failures.append(f"FORK: the ledger now signs another tree of size {cp.size}")
        elif cp.size not in by_size:
            unstored.append(cp)
    if paths:
        report.say("known", f"{len(paths)} checkpoint(s) kept from before, signatures valid")
    return unstored


def sample_leaves(size: int, extra: int = 3) -> set[int]:
    rng = random.Random()  # which leaves to spot-check; nothing secret
    return {0, size // 2, size - 1, *(rng.randrange(size) for _ in range(extra))} if size else set()


def consistency_pairs(
    checkpoints: Sequence[Checkpoint], known: Sequence[Checkpoint]
) -> list[tuple[Checkpoint, Checkpoint]]:
    """Consecutive checkpoints (an even sample of at most MAX_CONSISTENCY_PROOFS), the first
    against the latest, and each known checkpoint against the latest."""
    pairs = list(itertools.pairwise(checkpoints))
    if len(pairs) > MAX_CONSISTENCY_PROOFS:
        step = len(pairs) / MAX_CONSISTENCY_PROOFS
        pairs = [pairs[int(i * step)] for i in range(MAX_CONSISTENCY_PROOFS - 1)] + [pairs[-1]]
    latest = checkpoints[-1]
    ends = [checkpoints[0]] if len(checkpoints) > 2 else []
    return pairs + [(cp, latest) for cp in [*ends, *known]]


def verify_url(args: argparse.Namespace, report: Report) -> None:
    service = Service(args.url, args.timeout)
    served = service.json("/v1/audit/public-key")
    key = load_key(args.public_key, str(served.get("verifier_key", "")), report)
    latest = open_checkpoint(service.text("/v1/audit/checkpoint"), key)
    report.checkpoint = latest
    check_quorum(latest, args.witness, args.quorum, report)
    if not args.no_state:
        path = Path(args.state) if args.state else default_state_path(latest.origin)
        check_state(service, path, latest, report)
    if args.receipt:
        check_receipt(service, load_receipt(args.receipt), key, latest, report)
    checkpoints = fetch_checkpoints(service, key, latest, report)
    known = load_known(args.known, key, checkpoints, report)
    report.size = latest.size
    report.say(
        "checkpoints",
        f"latest of size {latest.size}, signed {latest.time}; {len(checkpoints)} stored, "
        "every signature checked",
    )
    replay = Replay()
    signed = [(cp.size, cp.root) for cp in [*checkpoints, *known]]
    sample = sample_leaves(latest.size)
    lines = service.lines(latest.size, args.page)
    kept = check_leaves(lines, signed, report, replay, sample, args.workers or 1)
    bad = report.first_bad
    if bad is not None and bad.index not in kept:
        got = service.json("/v1/audit/proofs/inclusion", {"index": bad.index, "size": latest.size})
        kept[bad.index] = LeafRecord(b64decode(got["leaf_hash"], "leaf hash"), bad.position)
    check_proofs(service, consistency_pairs(checkpoints, known), latest, kept, report)
    report.failures += [f"replay: {problem}" for problem in replay.problems]
    compare_figures(replay, service, report, latest)


def verify_export(args: argparse.Namespace, report: Report) -> None:
    with open(args.export, "rb") as f:
        first = f.readline(MAX_LINE + 1)
        if len(first) > MAX_LINE and not first.endswith(b"\n"):
            raise Unavailable(
                f"{args.export} is not a {EXPORT_FORMAT} file: its first line is longer than "
                f"{MAX_LINE} bytes"
            )
        header = json.loads(first)
        if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
            raise Unavailable(f"{args.export} is not a {EXPORT_FORMAT} file")
        key = load_key(args.public_key, str(header.get("verifier_key") or ""), report)
        if args.checkpoint:
            with open(args.checkpoint, encoding="utf-8") as n:
                note = n.read()
        else:
            note = str(header.get("checkpoint") or "")
            report.warnings.append("the checkpoint comes from the export file itself")
        latest = open_checkpoint(note, key)
        check_quorum(latest, args.witness, args.quorum, report)
        known = load_known(args.known, key, [latest], report)
        report.size = latest.size
        report.say("checkpoint", f"size {latest.size}, signed {latest.time}, signature valid")
        replay = Replay()
        signed = [(cp.size, cp.root) for cp in [latest, *known]]
        check_leaves(export_lines(f, args.export), signed, report, replay, set(), args.workers or 1)
        if f.read(1):
            report.warnings.append(f"lines after leaf {latest.size - 1} were not checked")
    report.summary = "signature, leaves and roots check; figures replayed above"
    report.failures += [f"replay: {problem}" for problem in replay.problems]
    report.say("figures", f"{len(replay.tools)} tools replayed (no service to compare with):")
    width = max(map(len, replay.tools), default=0)
    for slug, tool in sorted(replay.tools.items()):
        panel, community = tool.panel(), tool.community()
        report.lines.append(
            f"    {slug:<{width}}  {tool.status:<9} panel {panel['ship']}/{panel['total']} ship "
            f"({_pct(panel['ship_pct'])}), community {community['ship']}/{community['total']} "
            f"ship ({_pct(community['ship_pct'])})"
        )
    say_surfaces(replay, report)


def export_lines(f: Any, name: str) -> Iterator[bytes]:
    """The lines of an export file after its header, each with its newline, read at most
    MAX_LINE + 1 bytes at a time: a line longer than MAX_LINE (as over HTTP, `_split_lines`)
    is BadAnswer naming its line number and leaf, never held whole."""
    readline, cap = f.readline, MAX_LINE + 1
    for number in itertools.count(2):
        line = readline(cap)
        if not line:
            return
        if len(line) == cap and line[-1] != 10:  # no newline within the cap: it goes on
            raise BadAnswer(
                f"{name}: line {number} (leaf {number - 2}) is longer than {MAX_LINE} bytes"
            )
        yield line


def verify_tlog_proof(args: argparse.Namespace, report: Report) -> None:
    """`--tlog-proof FILE --leaf-hash B64`: no network at all, the keys given only."""
    with open(args.tlog_proof, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        report.failures.append("not a tlog-proof: the file is not UTF-8")
        return
    key = parse_verifier_key(args.public_key)
    report.say("key", f"{key.name}+{key.key_id.hex()} (given)")
    check_tlog_proof(text, args.leaf_hash, key, args.witness, args.quorum, report)


def _pct(value: int | None) -> str:
    return "—" if value is None else f"{value} %"


# -- the verdict ----------------------------------------------------------------------------------


def describe(bad: BadLeaf, count: int) -> str:
    where = (
        f"log position {bad.position}"
        if bad.position is not None
        else f"log position unknown, after {bad.after_position}"
    )
    return f"first bad leaf {bad.index} ({where}): {bad.kind}; {count} bad leaf(s) in all"


def finish(report: Report, as_json: bool) -> int:
    seconds = time.monotonic() - report.started
    rate = report.events / seconds if seconds > 0 else 0.0
    failures = report.all_failures()
    if failures:
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        verdict = f"VERDICT: FAILED — {failures[0]}{more}"
    elif report.verdict_ok:
        verdict = f"VERDICT: OK — {report.verdict_ok}"
    else:
        pending = f"; {report.pending}" if report.pending else ""
        verdict = (
            f"VERDICT: OK — {report.events} events up to the signed checkpoint of size "
            f"{report.size}: {report.summary}{pending}"
        )
    if as_json:
        bad = report.first_bad
        body = {
            "ok": not failures,
            "source": report.source,
            "size": report.size,
            "events": report.events,
            "first_bad_leaf": None if bad is None else dataclasses.asdict(bad),
            "failures": failures,
            "pending": report.pending,
            "warnings": report.warnings,
            "seconds": round(seconds, 3),
            "events_per_second": round(rate),
            "verdict": verdict,
        }
        print(json.dumps(body, ensure_ascii=False))
    else:
        print(f"Verdict Ledger audit of {report.source}")
        print("\n".join(report.lines))
        for warning in report.warnings:
            print(f"WARNING     {warning}")
        for failure in failures[:MAX_LISTED]:
            print(f"FAIL        {failure}")
        if len(failures) > MAX_LISTED:
            print(f"FAIL        ... and {len(failures) - MAX_LISTED} more")
        events = f", {rate:,.0f} events/s" if report.events else ""
        print(f"{'time':<12}{seconds:.2f} s{events}")
        print(verdict)
    return 1 if failures else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verify.py",
        description=__doc__.split("\n\n")[0],
        epilog="exit 0: VERDICT: OK. exit 1: VERDICT: FAILED, naming what was found (a lie or a "
        "broken ledger: what does not check, a score page of the wrong shape or that makes no "
        "progress, a line past MAX_LINE). exit 2: no verdict (a usage error, an unreadable "
        "file, or an answer that never arrived: refused, timed out, cut short, an HTTP error).",
    )
    parser.add_argument("url", nargs="?", help="a running ledger, e.g. http://127.0.0.1:8000")
    parser.add_argument("--export", metavar="FILE", help="verify an export file instead")
    parser.add_argument(
        "--tlog-proof",
        metavar="FILE",
        help="verify an offline C2SP tlog-proof (no network)",
    )
    parser.add_argument(
        "--leaf-hash", metavar="B64", help="with --tlog-proof: the leaf hash it must prove"
    )
    parser.add_argument("--checkpoint", metavar="NOTE_FILE", help="with --export: the checkpoint")
    parser.add_argument("--public-key", metavar="VERIFIER_KEY", help="name+id+key, out of band")
    parser.add_argument(
        "--witness",
        metavar="VKEY",
        action="append",
        default=[],
        help="a witness's cosigning key name+id+base64(0x04 || key); repeatable",
    )
    parser.add_argument(
        "--quorum", type=int, help="valid cosignatures a checkpoint needs (default: every witness)"
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="with a URL: the checkpoint remembered from the last run "
        "(default: one file per origin under $XDG_CACHE_HOME or ~/.cache)",
    )
    parser.add_argument("--no-state", action="store_true", help="with a URL: remember nothing")
    parser.add_argument(
        "--receipt", metavar="FILE", help="with a URL: a write's answer whose promise to check"
    )
    parser.add_argument(
        "--known",
        metavar="NOTE_FILE",
        action="append",
        default=[],
        help="a checkpoint kept from an earlier audit: the log must still extend it",
    )
    parser.add_argument("--page", type=int, default=PAGE, help="export lines per request")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per HTTP call")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument(
        "--workers",
        type=int,
        choices=(1, 2),
        help="processes: 2 hashes the leaves in a second one while this one replays (default "
        "1: on an idle 2-core machine one process was faster from an export and over HTTP, "
        "docs/scaling.md)",
    )
    parser.add_argument("--leaf-worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def _usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (exit 2) what cannot be meant; parse the keys and the leaf hash given."""
    if sum(x is not None for x in (args.url, args.export, args.tlog_proof)) != 1:
        parser.error("give a URL, --export FILE or --tlog-proof FILE, exactly one")
    if args.checkpoint and not args.export:
        parser.error("--checkpoint goes with --export (for a URL, keep old ones with --known)")
    if not args.url and (args.state or args.no_state or args.receipt):
        parser.error("--state, --no-state and --receipt go with a URL")
    if args.state and args.no_state:
        parser.error("--state FILE and --no-state are exclusive")
    if (args.tlog_proof is None) != (args.leaf_hash is None):
        parser.error("--tlog-proof FILE and --leaf-hash B64 go together")
    try:
        args.witness = distinct_witnesses([parse_witness_key(w) for w in args.witness])
        if args.tlog_proof:
            if not args.public_key:
                parser.error("--tlog-proof needs --public-key: an offline proof has no key")
            parse_verifier_key(args.public_key)
            args.leaf_hash = b64decode(args.leaf_hash, "--leaf-hash")
            if len(args.leaf_hash) != 32:
                parser.error("--leaf-hash is not a 32-byte hash")
    except Untrusted as e:
        parser.error(str(e))
    if args.quorum is None:
        args.quorum = len(args.witness)
    if not 0 <= args.quorum <= len(args.witness):
        parser.error(f"--quorum must be between 0 and the {len(args.witness)} witness(es) given")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.leaf_worker:
        return leaf_worker()
    _usage(parser, args)
    report = Report(args.url or args.export or args.tlog_proof)
    run = verify_url if args.url else verify_export if args.export else verify_tlog_proof
    try:
        run(args, report)
        if report.state_path and report.checkpoint and not report.all_failures():
            remember(report.state_path, report.checkpoint, report)
    except (Untrusted, BadAnswer) as e:
        report.failures.append(str(e))
    except (Unavailable, OSError, ValueError, KeyError, TypeError) as e:
        print(f"verify.py: error: cannot complete the audit: {e!r}", file=sys.stderr)
        return 2
    return finish(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
