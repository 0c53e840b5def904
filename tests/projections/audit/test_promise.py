"""Signed promises: the text round-trips, each voter finds its own line in a chunk's note, and
promises and checkpoints (signed by the same key) are never mistaken for each other."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.audit.promise import (
    KIND,
    MAX_ENTRIES,
    PromiseSigner,
    format_promise,
    open_promise,
    parse_promise,
)
from projections.audit.signed_note import (
    BadSignature,
    format_checkpoint,
    generate_signer,
    open_checkpoint,
    parse_checkpoint,
    time_extension,
)
from tests.builders import exactly
from tests.strategies import promise_entries

ORIGIN = "verdict.example/log"
WHEN = datetime(2026, 11, 22, 12, 0, 10, tzinfo=UTC)


@given(promise_entries, st.datetimes(timezones=st.just(UTC)))
def test_promise_text_round_trips(entries: list[tuple[int, bytes]], when: datetime) -> None:
    """parse_promise(format_promise(...)) gives back the origin, the time (to the second) and
    every (position, leaf hash) in order."""
    promise = parse_promise(format_promise(ORIGIN, when, entries))
    assert promise.origin == ORIGIN
    assert promise.by == when.replace(microsecond=0)
    assert list(promise.entries) == entries


def test_promise_text_is_the_documented_layout() -> None:
    """Origin, kind, `by` time, then one `<position> <base64 leaf>` line each."""
    leaf = bytes(range(32))
    text = format_promise(ORIGIN, WHEN, [(17, leaf)])
    assert text == (
        f"{ORIGIN}\n{KIND}\nby 2026-11-22T12:00:10Z\n17 {base64.b64encode(leaf).decode()}\n"
    )


def test_each_voter_finds_its_line_in_the_chunk_note() -> None:
    """A batch of 150 receipts is signed as 3 notes (64 + 64 + 22); each position's note opens
    with the log key and names that position with its own leaf hash."""
    signer, _ = generate_signer(ORIGIN)
    entries = [(p, bytes([p % 256]) * 32) for p in range(1000, 1150)]
    notes = PromiseSigner(signer, ORIGIN, timedelta(seconds=10)).sign(entries[::-1])
    assert len(set(notes.values())) == 3
    before = datetime.now(UTC)
    for position, leaf in entries:
        promise = open_promise(notes[position], signer.verifier_key)
        assert promise.leaf_hash(position) == leaf
        assert len(promise.entries) <= MAX_ENTRIES
        assert before <= promise.by + timedelta(seconds=1) <= before + timedelta(seconds=12)
    assert open_promise(notes[1000], signer.verifier_key).leaf_hash(1064) is None


def test_a_changed_line_breaks_the_signature() -> None:
    """Editing a voter's leaf hash in a signed promise makes it fail to open."""
    signer, _ = generate_signer(ORIGIN)
    note = PromiseSigner(signer, ORIGIN, timedelta(seconds=10)).sign([(5, b"\x01" * 32)])[5]
    forged = note.replace(
        base64.b64encode(b"\x01" * 32).decode(), base64.b64encode(b"\x02" * 32).decode()
    )
    with pytest.raises(BadSignature):
        open_promise(forged, signer.verifier_key)


def test_checkpoints_and_promises_are_not_confusable() -> None:
    """Signed by the same key, a promise does not open as a checkpoint, nor a checkpoint as a
    promise."""
    signer, _ = generate_signer(ORIGIN)
    promise = signer.sign(format_promise(ORIGIN, WHEN, [(1, b"\x00" * 32)]))
    checkpoint = signer.sign(format_checkpoint(ORIGIN, 1, b"\x00" * 32, [time_extension(WHEN)]))
    with pytest.raises(ValueError, match="size"):
        open_checkpoint(promise, signer.verifier_key)
    with pytest.raises(ValueError, match=KIND):
        open_promise(checkpoint, signer.verifier_key)
    assert parse_checkpoint(checkpoint.split("\n\n")[0] + "\n").size == 1


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([], "1 to 64"),
        ([(2, b"\x00" * 32), (1, b"\x00" * 32)], "ascending"),
        ([(1, b"\x00" * 32)] * 2, "distinct"),
        ([(1, b"\x00" * 31)], "32 bytes"),
    ],
    ids=["empty", "descending", "repeated", "short-hash"],
)
def test_bad_entries_are_refused(entries: list[tuple[int, bytes]], why: str) -> None:
    """No promise names nothing, an unordered or repeated position, or a short hash."""
    with pytest.raises(ValueError, match=why):
        format_promise(ORIGIN, WHEN, entries)


@pytest.mark.parametrize(
    "line",
    ["by 2026-11-22 12:00:10Z", "01 " + "A" * 43 + "=", "1 " + "A" * 42 + "==", "1  x"],
    ids=["by-line", "leading-zero", "short-hash", "no-hash"],
)
def test_malformed_text_is_refused(line: str) -> None:
    """A bad `by` line, a position with a leading zero, a hash of the wrong length."""
    good = format_promise(ORIGIN, WHEN, [(1, b"\x00" * 32)]).split("\n")
    index = 2 if line.startswith("by") else 3
    good[index] = line
    with pytest.raises(ValueError, match="not a '"):
        parse_promise("\n".join(good))


LEAF = "A" * 43 + "="
"""A canonical base64 leaf hash (32 zero bytes)."""


@pytest.mark.parametrize(
    ("origin", "when", "entries", "message"),
    [
        ("", WHEN, [(1, b"\x00" * 32)], "promise origin must be one non-empty line, got ''"),
        (
            "a\nb",
            WHEN,
            [(1, b"\x00" * 32)],
            "promise origin must be one non-empty line, got 'a\\nb'",
        ),
        (
            ORIGIN,
            WHEN.replace(tzinfo=None),
            [(1, b"\x00" * 32)],
            "a promise's time must be timezone-aware",
        ),
        (ORIGIN, WHEN, [], "a promise names 1 to 64 leaves, got 0"),
        (
            ORIGIN,
            WHEN,
            [(p, b"\x00" * 32) for p in range(65)],
            "a promise names 1 to 64 leaves, got 65",
        ),
        (
            ORIGIN,
            WHEN,
            [(-1, b"\x00" * 32)],
            "promise positions must be distinct, non-negative and ascending",
        ),
        (ORIGIN, WHEN, [(1, b"\x00" * 31)], "leaf hash must be 32 bytes, got 31"),
    ],
    ids=[
        "empty-origin",
        "two-line-origin",
        "naive-time",
        "no-leaf",
        "65-leaves",
        "negative",
        "short",
    ],
)
def test_format_refusals_say_what_is_wrong(
    origin: str, when: datetime, entries: list[tuple[int, bytes]], message: str
) -> None:
    """Each refusal of format_promise, with its whole message."""
    with pytest.raises(ValueError, match=exactly(message)):
        format_promise(origin, when, entries)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"{ORIGIN}\n{KIND}\nby 2026-11-22T12:00:10Z\n1 {LEAF}",
            "promise text must end with a newline",
        ),
        (f"{ORIGIN}\n{KIND}\nby 2026-11-22T12:00:10Z\n", f"not a {KIND} note"),
        (f"\n{KIND}\nby 2026-11-22T12:00:10Z\n1 {LEAF}\n", "promise origin line is empty"),
        (
            f"{ORIGIN}\n{KIND}\nby 2026-11-22 12:00:10Z\n1 {LEAF}\n",
            "not a 'by YYYY-MM-DDTHH:MM:SSZ' line: 'by 2026-11-22 12:00:10Z'",
        ),
        (
            f"{ORIGIN}\n{KIND}\nby 2026-11-22T12:00:10Z\n"
            + "".join(f"{p} {LEAF}\n" for p in range(65)),
            "a promise names at most 64 leaves, got 65",
        ),
        (
            f"{ORIGIN}\n{KIND}\nby 2026-11-22T12:00:10Z\n1  x\n",
            "not a '<position> <base64 leaf hash>' line: '1  x'",
        ),
        (
            f"{ORIGIN}\n{KIND}\nby 2026-11-22T12:00:10Z\n1 {'A' * 42}B=\n",
            f"leaf hash '{'A' * 42}B=' is not canonical base64",
        ),
        (
            f"{ORIGIN}\n{KIND}\nby 2026-11-22T12:00:10Z\n2 {LEAF}\n1 {LEAF}\n",
            "promise positions must be distinct and ascending",
        ),
        (
            f"{ORIGIN}\n{KIND}\nby 2026-11-22T12:00:10Z\n1 {LEAF}\n1 {LEAF}\n",
            "promise positions must be distinct and ascending",
        ),
    ],
    ids=[
        "no-final-newline",
        "no-leaf",
        "empty-origin",
        "by-line",
        "65-leaves",
        "entry-line",
        "uncanonical",
        "descending",
        "repeated",
    ],
)
def test_parse_refusals_say_what_is_wrong(text: str, message: str) -> None:
    """Each refusal of parse_promise, with its whole message."""
    with pytest.raises(ValueError, match=exactly(message)):
        parse_promise(text)


@pytest.fixture
def tokyo_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is UTC+9 for the test (and back after it)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("tokyo_local_time")
def test_the_by_time_is_utc_whatever_the_local_zone() -> None:
    """A time given in another zone is written in UTC, not in the server's local time."""
    tokyo = timezone(timedelta(hours=9))
    text = format_promise(
        ORIGIN, datetime(2026, 11, 22, 21, 0, 10, tzinfo=tokyo), [(1, b"\x00" * 32)]
    )
    assert text.split("\n")[2] == "by 2026-11-22T12:00:10Z"
    assert time.localtime(0).tm_hour == 9  # the zone did change: local time is not UTC here
