"""Signed notes and checkpoints against the published vectors of golang.org/x/mod/sumdb/note and
the C2SP specifications (tests/data/signed_note_vectors.json says where each comes from), and
round trips over random checkpoints."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from projections.audit.signed_note import (
    MAX_SIGNATURES,
    BadSignature,
    Checkpoint,
    InvalidNote,
    MalformedNote,
    NoteSigner,
    UnknownKey,
    format_checkpoint,
    generate_signer,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_time_extension,
    parse_verifier_key,
    signer_from_private_bytes,
    time_extension,
)
from tests.strategies import checkpoints, key_names, note_lines
from tests.vectors import SIGNED_NOTES

VECTORS = SIGNED_NOTES
TEXT: str = VECTORS["text"]
PETER: str = VECTORS["peter_verifier_key"]
ENOCH: str = VECTORS["enoch_verifier_key"]
SIGNER, RAW_KEY = generate_signer("verdict.example/log")


def peter_seed() -> bytes:
    """The raw Ed25519 private key inside Go's `PRIVATE+KEY+name+id+base64(0x01 || seed)`."""
    *_, material = VECTORS["peter_private_key"].split("+", 4)
    raw = base64.b64decode(material)
    assert raw[0] == 0x01
    return raw[1:]


def tamper_signature(note: str) -> str:
    """`note` with one bit of its (last) Ed25519 signature flipped, key id kept."""
    head, _, b64 = note[:-1].rpartition(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    return f"{head} {base64.b64encode(raw).decode()}\n"


# -- published vectors ----------------------------------------------------------------------------


def test_peter_neumann_note_opens() -> None:
    """The note signed by Go's test key opens with its verifier key and gives back the text."""
    assert open_note(VECTORS["peter_signed_note"], PETER) == TEXT


def test_peter_neumann_key_signs_the_published_note_byte_for_byte() -> None:
    """Go's test private key gives the published verifier key and, Ed25519 being deterministic,
    the published signed note."""
    signer = signer_from_private_bytes("PeterNeumann", peter_seed())
    assert signer.verifier_key == PETER
    assert signer.sign(TEXT) == VECTORS["peter_signed_note"]


def test_c2sp_example_note_opens() -> None:
    """The example note of c2sp.org/signed-note opens with its example verifier key."""
    assert open_note(VECTORS["c2sp_example_note"], VECTORS["c2sp_example_verifier_key"]) == (
        "This is an example message.\n"
    )


def test_c2sp_checkpoint_example_parses_and_formats_back() -> None:
    """The example of c2sp.org/tlog-checkpoint parses to its three fields and formats back."""
    body = VECTORS["c2sp_checkpoint_body"]
    checkpoint = parse_checkpoint(body)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert base64.b64encode(checkpoint.root).decode() == body.splitlines()[2]
    assert checkpoint.extensions == ()
    assert checkpoint.time is None
    assert format_checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root) == body
    assert VECTORS["c2sp_checkpoint_note"].startswith(body + "\n— example.com/behind-the-sofa ")


def test_signatures_by_other_keys_are_ignored() -> None:
    """A note signed by Peter and Enoch opens with either key; the other line is skipped."""
    note = TEXT + "\n" + VECTORS["peter_signature_line"] + VECTORS["enoch_signature_line"]
    assert open_note(note, PETER) == TEXT
    assert open_note(note, ENOCH) == TEXT


def test_a_note_without_our_signature_is_unknown_key() -> None:
    """Peter's note checked with Enoch's key: no signature by the trusted key."""
    with pytest.raises(UnknownKey, match="EnochRoot"):
        open_note(VECTORS["peter_signed_note"], ENOCH)


def test_published_invalid_signature_is_bad_signature() -> None:
    """Go's mangled signature (ABCD spliced in) is a bad signature for Peter's key."""
    with pytest.raises(BadSignature, match="PeterNeumann"):
        open_note(VECTORS["bad_signature_note"], PETER)


@pytest.mark.parametrize("note", VECTORS["malformed_notes"])
def test_published_malformed_notes(note: str) -> None:
    """Each of Go's malformed notes is refused as malformed."""
    with pytest.raises(MalformedNote):
        open_note(note, PETER)


def test_too_many_signatures_are_malformed() -> None:
    """101 signature lines are refused (Go's limit); 16, the C2SP minimum, are fine."""
    line = VECTORS["peter_signature_line"]
    with pytest.raises(MalformedNote, match=str(MAX_SIGNATURES)):
        open_note(TEXT + "\n" + line * (MAX_SIGNATURES + 1), PETER)
    assert open_note(TEXT + "\n" + line * 16, PETER) == TEXT


def test_mangled_verifier_keys_are_refused() -> None:
    """Every proper substring and every one-character bump of Peter's key, and Go's wrong-length
    and unknown-algorithm keys, are refused (as in TestNewVerifier)."""
    assert parse_verifier_key(PETER).name == "PeterNeumann"
    mangled = [PETER[i:j] for i in range(len(PETER)) for j in range(i + 1, len(PETER) + 1)]
    mangled.remove(PETER)
    mangled += [PETER[:i] + chr(ord(c) + 1) + PETER[i + 1 :] for i, c in enumerate(PETER)]
    mangled += VECTORS["bad_verifier_keys"]
    for vkey in mangled:
        with pytest.raises(ValueError, match="verifier key"):
            parse_verifier_key(vkey)


# -- our own keys ---------------------------------------------------------------------------------


def test_round_trip_and_reload() -> None:
    """A generated key signs a note that opens; reloading its raw bytes gives the same signer."""
    note = SIGNER.sign(TEXT)
    assert open_note(note, SIGNER.verifier_key) == TEXT
    again = signer_from_private_bytes("verdict.example/log", RAW_KEY)
    assert again.verifier_key == SIGNER.verifier_key
    assert again.sign(TEXT) == note


def test_tampered_text_is_bad_signature() -> None:
    """Changing one character of the signed text breaks the signature."""
    note = SIGNER.sign(TEXT)
    with pytest.raises(BadSignature):
        open_note(note.replace("problem", "pr0blem", 1), SIGNER.verifier_key)


def test_tampered_signature_is_bad_signature() -> None:
    """Flipping one bit of the signature, key id untouched, breaks it."""
    with pytest.raises(BadSignature):
        open_note(tamper_signature(SIGNER.sign(TEXT)), SIGNER.verifier_key)


def test_wrong_key_is_unknown_key() -> None:
    """Another key, even under the same name, did not sign the note: unknown key."""
    other, _ = generate_signer("verdict.example/log")
    with pytest.raises(UnknownKey):
        open_note(SIGNER.sign(TEXT), other.verifier_key)
    with pytest.raises(UnknownKey):
        open_note(SIGNER.sign(TEXT), PETER)


def test_a_line_claiming_our_key_must_verify() -> None:
    """A second, forged line with our name and key id rejects the whole note."""
    forged = tamper_signature(SIGNER.sign(TEXT)).rpartition("\n—")[2]
    with pytest.raises(BadSignature):
        open_note(SIGNER.sign(TEXT) + "—" + forged, SIGNER.verifier_key)


def test_invalid_note_is_a_value_error() -> None:
    """Callers that catch ValueError also catch every InvalidNote."""
    assert issubclass(InvalidNote, ValueError)
    for error in (MalformedNote, UnknownKey, BadSignature):
        assert issubclass(error, InvalidNote)


def test_signer_refuses_bad_names_and_texts() -> None:
    """Key names with spaces or '+', texts without a final newline or with control characters."""
    key = Ed25519PrivateKey.from_private_bytes(RAW_KEY)
    for name in ("", "a b", "a+b", "tab\there"):
        with pytest.raises(ValueError, match="key name"):
            NoteSigner(name, key)
    with pytest.raises(ValueError, match="newline"):
        SIGNER.sign("no newline")
    with pytest.raises(ValueError, match="control"):
        SIGNER.sign("bell\a\n")
    with pytest.raises(ValueError, match="32 bytes"):
        signer_from_private_bytes("x", RAW_KEY[:31])


# -- checkpoints ----------------------------------------------------------------------------------


@given(checkpoints)
def test_checkpoint_round_trip_through_a_signed_note(fields: dict[str, Any]) -> None:
    """format, sign, open and parse give back the same fields."""
    text = format_checkpoint(**fields)
    assert parse_checkpoint(text) == Checkpoint(**fields)
    assert open_checkpoint(SIGNER.sign(text), SIGNER.verifier_key) == Checkpoint(**fields)


@given(key_names, st.binary(min_size=32, max_size=32), note_lines, st.data())
def test_any_changed_character_breaks_the_note(
    name: str, seed: bytes, line: str, data: st.DataObject
) -> None:
    """For any key and text the note opens, and replacing any one character in it is refused."""
    signer = signer_from_private_bytes(name, seed)
    note = signer.sign(line + "\n")
    assert open_note(note, signer.verifier_key) == line + "\n"
    at = data.draw(st.integers(0, len(note) - 1))
    other = data.draw(st.characters(codec="utf-8").filter(lambda c: c != note[at]))
    with pytest.raises(InvalidNote):
        open_note(note[:at] + other + note[at + 1 :], signer.verifier_key)


@given(st.datetimes(min_value=datetime(1, 1, 2), timezones=st.timezones()))
def test_time_extension_round_trip(when: datetime) -> None:
    """The time line is RFC 3339 UTC at whole seconds and reads back as the same instant."""
    line = time_extension(when)
    assert line.startswith("time ") and line.endswith("Z")
    assert parse_time_extension(line) == when.astimezone(UTC).replace(microsecond=0)


def test_checkpoint_with_time_line() -> None:
    """The documented example line, carried as an extension, is the checkpoint's time."""
    noon = datetime(2026, 11, 22, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert time_extension(noon) == "time 2026-11-22T12:00:00Z"
    text = format_checkpoint("verdict.example/log", 5, bytes(32), [time_extension(noon)])
    assert parse_checkpoint(text).time == noon
    with pytest.raises(ValueError, match="aware"):
        time_extension(datetime(2026, 11, 22, 12, 0))


ROOT64 = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (f"log\n5\n{ROOT64}", "newline"),
        ("log\n5\n", "origin, size and root"),
        (f"\n5\n{ROOT64}\n", "origin"),
        (f"log\n05\n{ROOT64}\n", "leading zeros"),
        (f"log\n-5\n{ROOT64}\n", "decimal"),
        (f"log\n 5\n{ROOT64}\n", "decimal"),
        ("log\n5\nnot base64!\n", "base64"),
        (f"log\n5\n{base64.b64encode(bytes(31)).decode()}\n", "32-byte"),
        (f"log\n5\n{ROOT64}\n\n", "non-empty"),
        (f"log\n5\n{ROOT64}\nbell\a\n", "control"),
    ],
)
def test_malformed_checkpoints_say_what_is_wrong(text: str, why: str) -> None:
    """Each malformed checkpoint text raises ValueError naming the fault."""
    with pytest.raises(ValueError, match=why):
        parse_checkpoint(text)


def test_format_checkpoint_refuses_what_parse_would() -> None:
    """An origin or extension spanning lines, a negative size or a short root are refused."""
    with pytest.raises(ValueError, match="origin"):
        format_checkpoint("two\nlines", 1, bytes(32))
    with pytest.raises(ValueError, match="extension"):
        format_checkpoint("log", 1, bytes(32), ["a\nb"])
    with pytest.raises(ValueError, match="negative"):
        format_checkpoint("log", -1, bytes(32))
    with pytest.raises(ValueError, match="32 bytes"):
        format_checkpoint("log", 1, bytes(31))
