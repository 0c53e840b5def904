"""Signed promises: the text round-trips, each voter finds its own line in a chunk's note, and
promises and checkpoints (signed by the same key) are never mistaken for each other."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

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
