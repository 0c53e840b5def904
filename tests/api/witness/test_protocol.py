"""The tlog-witness wire format: the spec's example request, round trips, strict refusals."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.witness.protocol import (
    MAX_BODY,
    MAX_PROOF_LINES,
    MalformedRequest,
    format_add_checkpoint,
    format_tlog_size,
    parse_add_checkpoint,
    parse_tlog_size,
)
from projections.audit.signed_note import format_checkpoint, generate_signer
from tests.builders import exactly
from tests.strategies import add_checkpoint_requests
from tests.vectors import SIGNED_NOTES

VECTORS = SIGNED_NOTES
NOTE: str = VECTORS["c2sp_checkpoint_note"]
PROOF_B64 = [
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=",
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=",
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=",
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=",
]
SPEC_EXAMPLE = (
    "old 20852014\n"
    + "".join(h + "\n" for h in PROOF_B64)
    + "\n"
    + NOTE.removesuffix("\n")
    # the example's second log signature line
    + "\n\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum"
    "2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
).encode()


def test_the_specs_example_request_parses() -> None:
    """tlog-witness's example body: old size, four proof hashes, a twice-signed checkpoint."""
    request = parse_add_checkpoint(SPEC_EXAMPLE)
    assert request.old_size == 20852014
    assert request.proof == tuple(base64.b64decode(h) for h in PROOF_B64)
    assert request.checkpoint.origin == "example.com/behind-the-sofa"
    assert request.checkpoint.size == 20852163
    assert request.note.count("\u2014 ") == 2
    assert request.text == VECTORS["c2sp_checkpoint_body"]
    assert format_add_checkpoint(request.old_size, request.proof, request.note) == SPEC_EXAMPLE


@given(add_checkpoint_requests)
def test_format_and_parse_round_trip(drawn: tuple[int, list[bytes], str]) -> None:
    """What the ledger's client formats, the witness parses back unchanged."""
    old_size, proof, note = drawn
    request = parse_add_checkpoint(format_add_checkpoint(old_size, proof, note))
    assert (request.old_size, list(request.proof), request.note) == (old_size, proof, note)


@given(st.binary(max_size=300) | add_checkpoint_requests.map(lambda r: _mangle(*r)))
def test_any_body_parses_or_is_malformed(body: bytes) -> None:
    """No body makes the parser raise anything but MalformedRequest (a 400), and what it
    accepts is canonical: formatting the parsed request gives the body back."""
    try:
        request = parse_add_checkpoint(body)
    except MalformedRequest:
        return
    assert format_add_checkpoint(request.old_size, request.proof, request.note) == body


def _mangle(old_size: int, proof: list[bytes], note: str) -> bytes:
    body = format_add_checkpoint(old_size, proof, note)
    cut = len(body) // 3
    return body[:cut] + body[cut + 1 :]


SIGNER, _ = generate_signer("verdict.example/log")
GOOD_NOTE = SIGNER.sign(format_checkpoint("verdict.example/log", 5, b"\x01" * 32))
HASH = base64.b64encode(b"\x02" * 32).decode()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (f"old 3\n{HASH}\n", "^no empty line between the proof and the checkpoint$"),
        (f"old 03\n{HASH}\n\n{GOOD_NOTE}", "old <decimal size>"),
        (f"old -3\n{HASH}\n\n{GOOD_NOTE}", "old <decimal size>"),
        (f"old  3\n{HASH}\n\n{GOOD_NOTE}", "old <decimal size>"),
        (f"Old 3\n{HASH}\n\n{GOOD_NOTE}", "old <decimal size>"),
        (f"old 3\r\n{HASH}\n\n{GOOD_NOTE}", "old <decimal size>"),
        (f"old 3\n{HASH[:-1]}\n\n{GOOD_NOTE}", "not base64"),
        (f"old 3\n{base64.b64encode(b'x' * 31).decode()}\n\n{GOOD_NOTE}", "32-byte"),
        (f"old 3\n{HASH} \n\n{GOOD_NOTE}", "base64"),
        ("old 3\n" + f"{HASH}\n" * (MAX_PROOF_LINES + 1) + f"\n{GOOD_NOTE}", "63"),
        (f"old 0\n{HASH}\n\n{GOOD_NOTE}", "must be empty"),
        (f"old 3\n\n{GOOD_NOTE.removesuffix(chr(10))}", "checkpoint note"),
        ("old 3\n\nverdict.example/log\n5\nnot-a-root\n\n" + GOOD_NOTE.split("\n\n")[1], "root"),
        ("old 3\n\n" + GOOD_NOTE.replace("\u2014", "-"), "em dash"),
        ("old 3\n\nno signatures here\n", "checkpoint note"),
        (f"old {2**63}\n{HASH}\n\n{GOOD_NOTE}", "above"),
        (f"old {'9' * 5000}\n{HASH}\n\n{GOOD_NOTE}", "above"),  # too long for int()
        ("old 3\n\n" + GOOD_NOTE.replace("\n5\n", f"\n{2**63}\n"), "above"),
    ],
)
def test_malformed_bodies_are_refused(body: str, why: str) -> None:
    """Each rule of the format, broken once, is a MalformedRequest naming it."""
    with pytest.raises(MalformedRequest, match=why):
        parse_add_checkpoint(body.encode())


def test_bodies_that_are_not_utf8_or_too_large_are_refused() -> None:
    """Bytes that are no UTF-8, and bodies past MAX_BODY, are refused before parsing."""
    with pytest.raises(MalformedRequest, match=exactly("body is not UTF-8")):
        parse_add_checkpoint(b"old 3\n\n\xff" + GOOD_NOTE.encode())
    with pytest.raises(MalformedRequest, match=exactly("body is larger than 65536 bytes")):
        parse_add_checkpoint(b"old 3\n\n" + b"x" * MAX_BODY)
    with pytest.raises(MalformedRequest, match="no empty line"):  # MAX_BODY itself is allowed
        parse_add_checkpoint(b"old 3\n" + b"x" * (MAX_BODY - len(b"old 3\n")))
    assert parse_add_checkpoint(f"old 0\n\n{GOOD_NOTE}".encode()).old_size == 0


def test_a_long_bad_proof_line_is_quoted_to_60_characters() -> None:
    """The message quotes the start of a line, not all of it."""
    line = "!" * 70
    with pytest.raises(MalformedRequest, match=exactly(f"proof line {line[:60]!r} is not base64")):
        parse_add_checkpoint(f"old 3\n{line}\n\n{GOOD_NOTE}".encode())


def test_format_refuses_what_the_witness_would() -> None:
    """The client cannot send a negative size, a short hash, 64 hashes or a note sans newline;
    63 hashes it can."""
    too_many = "a proof is at most 63 hashes of 32 bytes"
    with pytest.raises(ValueError, match=exactly("old size -1 is negative")):
        format_add_checkpoint(-1, [], GOOD_NOTE)
    with pytest.raises(ValueError, match=exactly(too_many)):
        format_add_checkpoint(1, [b"x"], GOOD_NOTE)
    with pytest.raises(ValueError, match=exactly(too_many)):
        format_add_checkpoint(1, [b"x" * 32] * 64, GOOD_NOTE)
    with pytest.raises(ValueError, match=exactly("a signed note ends with a newline")):
        format_add_checkpoint(1, [], GOOD_NOTE.removesuffix("\n"))
    body = format_add_checkpoint(1, [b"x" * 32] * 63, GOOD_NOTE)
    assert len(parse_add_checkpoint(body).proof) == 63


@given(st.integers(0, 2**64))
def test_tlog_size_round_trips(size: int) -> None:
    """The 409 body: decimal and a newline, read back as it was written."""
    assert format_tlog_size(size) == f"{size}\n".encode()
    assert parse_tlog_size(format_tlog_size(size)) == size


@pytest.mark.parametrize(
    "body", [b"5", b"05\n", b" 5\n", b"5\n\n", b"-5\n", b"", b"\xff\n", b"9" * 5000 + b"\n"]
)
def test_malformed_tlog_sizes_are_refused(body: bytes) -> None:
    """Anything but `<decimal without leading zeros>\\n` is not a size."""
    with pytest.raises(MalformedRequest):
        parse_tlog_size(body)


def test_a_tlog_size_has_at_most_100_digits() -> None:
    """100 digits are read (no log is that big, but int() is safe there); 101 are refused, the
    message quoting the body's first 40 bytes."""
    assert parse_tlog_size(b"9" * 100 + b"\n") == int("9" * 100)
    body = b"9" * 101 + b"\n"
    with pytest.raises(
        MalformedRequest, match=exactly(f"not a text/x.tlog.size body: {body[:40]!r}")
    ):
        parse_tlog_size(body)


def test_each_refusal_quotes_at_most_40_or_60_characters() -> None:
    """A long first line is quoted to 40 characters, a long proof line to 60; the proof from
    old size 0 must be empty, with that message."""
    first = "old " + "x" * 50
    with pytest.raises(
        MalformedRequest,
        match=exactly(f"first line must be 'old <decimal size>', got {first[:40]!r}"),
    ):
        parse_add_checkpoint(f"{first}\n\n{GOOD_NOTE}".encode())
    long_hash = base64.b64encode(b"\x02" * 48).decode()
    with pytest.raises(
        MalformedRequest,
        match=exactly(f"proof line {long_hash[:60]!r} is not a base64 32-byte hash"),
    ):
        parse_add_checkpoint(f"old 3\n{long_hash}\n\n{GOOD_NOTE}".encode())
    with pytest.raises(
        MalformedRequest, match=exactly("the proof must be empty when the old size is 0")
    ):
        parse_add_checkpoint(f"old 0\n{HASH}\n\n{GOOD_NOTE}".encode())


def test_the_largest_tree_size_is_taken() -> None:
    """2^63 - 1, the largest size, is a size (one more is refused, above)."""
    note = SIGNER.sign(format_checkpoint("verdict.example/log", 2**63 - 1, b"\x01" * 32))
    request = parse_add_checkpoint(f"old {2**63 - 1}\n\n{note}".encode())
    assert (request.old_size, request.checkpoint.size) == (2**63 - 1, 2**63 - 1)
