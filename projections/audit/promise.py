"""Signed promises: the log's word, given with a write's receipt, that the receipt's leaf will be
in a checkpoint by a stated time (the role of CT's signed certificate timestamp and Rekor's
signed entry timestamp). A voter who keeps one can prove a vanished vote was accepted.

A promise is a C2SP signed note by the LOG key (key name = origin), whose text is

    verdict.example/log                      <- origin
    verdict-ledger/promise/v1                <- what kind of note this is
    by 2026-11-22T12:00:10Z                  <- the latest time the leaves are checkpointed
    17 mNkloKa2/Mtd5UezNBw47KmcOofiYHz25vveVXDsGZk=   <- position, base64 leaf hash
    ...                                      <- 1 to MAX_ENTRIES lines, ascending positions

One signature covers up to MAX_ENTRIES receipts of one group-commit batch, so signing costs
once per chunk of votes, not once per vote. The same key signs checkpoints; the second line is
what keeps the two apart: a checkpoint's second line is a decimal size, so a checkpoint parser
refuses a promise, and `parse_promise` refuses anything without the marker line."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from projections.audit.signed_note import NoteSigner, open_note

KIND = "verdict-ledger/promise/v1"
MAX_ENTRIES = 64
HASH_SIZE = 32

_BY = re.compile(r"by (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")
_ENTRY = re.compile(r"(0|[1-9][0-9]*) ([A-Za-z0-9+/]{43}=)")


@dataclass(frozen=True, slots=True)
class Promise:
    origin: str
    by: datetime
    entries: tuple[tuple[int, bytes], ...]
    """(log position, leaf hash), ascending positions."""

    def leaf_hash(self, position: int) -> bytes | None:
        """The promised leaf hash at `position`, or None when this promise does not name it."""
        for found, leaf in self.entries:
            if found == position:
                return leaf
        return None


def _when(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("a promise's time must be timezone-aware")
    return when.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def format_promise(origin: str, by: datetime, entries: Sequence[tuple[int, bytes]]) -> str:
    """The promise note text, newline-terminated, ready for `NoteSigner.sign`."""
    if not origin or "\n" in origin:
        raise ValueError(f"promise origin must be one non-empty line, got {origin!r}")
    if not 1 <= len(entries) <= MAX_ENTRIES:
        raise ValueError(f"a promise names 1 to {MAX_ENTRIES} leaves, got {len(entries)}")
    positions = [position for position, _ in entries]
    if positions != sorted(set(positions)) or positions[0] < 0:
        raise ValueError("promise positions must be distinct, non-negative and ascending")
    lines = [origin, KIND, "by " + _when(by)]
    for position, leaf in entries:
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        lines.append(f"{position} {base64.b64encode(leaf).decode('ascii')}")
    return "".join(line + "\n" for line in lines)


def parse_promise(text: str) -> Promise:
    """The fields of a promise note text (the part before the signatures); ValueError if it is
    not one (a checkpoint, say)."""
    if not text.endswith("\n"):
        raise ValueError("promise text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 4 or lines[1] != KIND:
        raise ValueError(f"not a {KIND} note")
    origin, _, by, *rest = lines
    if not origin:
        raise ValueError("promise origin line is empty")
    matched = _BY.fullmatch(by)
    if matched is None:
        raise ValueError(f"not a 'by YYYY-MM-DDTHH:MM:SSZ' line: {by!r}")
    when = datetime.strptime(matched[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if len(rest) > MAX_ENTRIES:
        raise ValueError(f"a promise names at most {MAX_ENTRIES} leaves, got {len(rest)}")
    entries: list[tuple[int, bytes]] = []
    for line in rest:
        entry = _ENTRY.fullmatch(line)
        if entry is None:
            raise ValueError(f"not a '<position> <base64 leaf hash>' line: {line!r}")
        leaf = base64.b64decode(entry[2], validate=True)
        if base64.b64encode(leaf).decode("ascii") != entry[2]:
            raise ValueError(f"leaf hash {entry[2]!r} is not canonical base64")
        entries.append((int(entry[1]), leaf))
    positions = [position for position, _ in entries]
    if positions != sorted(set(positions)):
        raise ValueError("promise positions must be distinct and ascending")
    return Promise(origin, when, tuple(entries))


def open_promise(note: str, verifier_key: str) -> Promise:
    """`parse_promise(open_note(...))`: a promise worth believing, or an error."""
    return parse_promise(open_note(note, verifier_key))


class PromiseSigner:
    """Signs promises with the log's key: one note per chunk of up to MAX_ENTRIES leaves, each
    due `window` after signing."""

    def __init__(self, signer: NoteSigner, origin: str, window: timedelta) -> None:
        self.signer = signer
        self.origin = origin
        self.window = window

    def sign(self, entries: Sequence[tuple[int, bytes]]) -> dict[int, str]:
        """Each position of `entries` and the signed note that names it: one note per chunk
        of MAX_ENTRIES, in position order."""
        ordered = sorted(entries)
        by = datetime.now(UTC) + self.window
        notes: dict[int, str] = {}
        for i in range(0, len(ordered), MAX_ENTRIES):
            chunk = ordered[i : i + MAX_ENTRIES]
            note = self.signer.sign(format_promise(self.origin, by, chunk))
            notes.update((position, note) for position, _ in chunk)
        return notes
