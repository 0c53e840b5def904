"""Witness cosignatures (C2SP tlog-cosignature `cosignature/v1`) against an independent
implementation written from the spec here (hashlib and cryptography only), the spec's examples,
and the golang.org/x/mod note vectors in tests/data."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from projections.audit.cosignature import (
    MAX_TIMESTAMP,
    CosignatureVerifier,
    Cosigner,
    cosigned_message,
    open_cosignatures,
)
from projections.audit.signed_note import (
    BadSignature,
    MalformedNote,
    UnknownKey,
    format_checkpoint,
    generate_signer,
    open_note,
    parse_signature_line,
    parse_verifier_key,
    split_note,
)
from tests.builders import exactly
from tests.strategies import checkpoints, cosignature_timestamps, key_names
from tests.vectors import SIGNED_NOTES

VECTORS = SIGNED_NOTES
BODY: str = VECTORS["c2sp_checkpoint_body"]
WITNESS = Cosigner("witness.example/w1", Ed25519PrivateKey.generate())
VERIFIER = CosignatureVerifier.from_verifier_key(WITNESS.verifier_key)


# -- the spec, independently: tlog-cosignature "Format" and "Ed25519 signed message" --


def spec_key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + b"\x04" + public_key).digest()[:4]


def spec_verifier_key(name: str, public_key: bytes) -> str:
    material = base64.b64encode(b"\x04" + public_key).decode()
    return f"{name}+{spec_key_id(name, public_key).hex()}+{material}"


def spec_message(text: str, timestamp: int) -> bytes:
    return b"cosignature/v1\n" + b"time " + str(timestamp).encode() + b"\n" + text.encode()


def spec_verify(vkey: str, text: str, line: str) -> int:
    """The timestamp of `line` over checkpoint text `text`, or an AssertionError."""
    name, hex_id, material = vkey.split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 0x04 and len(raw) == 33
    assert spec_key_id(name, raw[1:]).hex() == hex_id
    assert line.startswith("\u2014 ") and line.endswith("\n")
    line_name, b64 = line[2:-1].split(" ")
    assert line_name == name
    signature = base64.b64decode(b64, validate=True)
    assert len(signature) == 4 + 8 + 64
    assert signature[:4] == bytes.fromhex(hex_id)
    timestamp = int.from_bytes(signature[4:12], "big")
    try:
        Ed25519PublicKey.from_public_bytes(raw[1:]).verify(
            signature[12:], spec_message(text, timestamp)
        )
    except InvalidSignature:
        raise AssertionError("cosignature does not verify") from None
    return timestamp


def spec_cosign(private_key: Ed25519PrivateKey, name: str, text: str, timestamp: int) -> str:
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private_key.sign(spec_message(text, timestamp))
    payload = spec_key_id(name, public) + timestamp.to_bytes(8, "big") + signature
    return f"\u2014 {name} {base64.b64encode(payload).decode()}\n"


def checkpoint_text(drawn: dict[str, Any]) -> str:
    return format_checkpoint(drawn["origin"], drawn["size"], drawn["root"], drawn["extensions"])


# -- interop --


@given(key_names, checkpoints, cosignature_timestamps)
def test_our_cosignatures_verify_with_the_spec(
    name: str, drawn: dict[str, Any], timestamp: int
) -> None:
    """A cosignature we make verifies with the independent implementation, at its timestamp."""
    cosigner = Cosigner(name, Ed25519PrivateKey.generate())
    text = checkpoint_text(drawn)
    assert cosigner.verifier_key == spec_verifier_key(name, cosigner.public_key)
    assert spec_verify(cosigner.verifier_key, text, cosigner.cosign(text, timestamp)) == timestamp


@given(key_names, checkpoints, cosignature_timestamps)
def test_spec_cosignatures_verify_with_ours(
    name: str, drawn: dict[str, Any], timestamp: int
) -> None:
    """A cosignature made from the spec verifies with ours and gives back its timestamp."""
    private_key = Ed25519PrivateKey.generate()
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    text = checkpoint_text(drawn)
    line = spec_cosign(private_key, name, text, timestamp)
    verifier = CosignatureVerifier.from_verifier_key(spec_verifier_key(name, public))
    assert verifier.verify(text, line) == timestamp
    assert verifier.verify(text, line.removesuffix("\n")) == timestamp


def test_the_signed_message_is_the_specs_example() -> None:
    """tlog-cosignature's example message, byte for byte, for the C2SP example checkpoint."""
    expected = (
        "cosignature/v1\ntime 1679315147\n"
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert cosigned_message(BODY, 1679315147) == expected.encode()


def test_the_specs_example_cosignature_line_parses_to_its_timestamp() -> None:
    """The example line of tlog-cosignature carries the time of the spec's example message."""
    line = (
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
        "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
    )
    name, signature = parse_signature_line(line)
    assert name == "witness.example.com/w1"
    assert len(signature) == 76
    assert int.from_bytes(signature[4:12], "big") == 1679315147


def test_a_cosigned_golang_checkpoint_still_opens_for_the_log_and_the_witness() -> None:
    """The C2SP checkpoint vector with our cosignature appended: the log's key still opens it
    (the witness line is foreign to it), the text is unchanged, and the witness line verifies."""
    note = VECTORS["c2sp_checkpoint_note"] + WITNESS.cosign(BODY, 1679315147)
    text, signatures = split_note(note)
    assert text == BODY
    assert len(signatures) == 2
    found = open_cosignatures(note, [VERIFIER])
    assert [(c.verifier_key, c.timestamp) for c in found] == [(WITNESS.verifier_key, 1679315147)]
    assert spec_verify(WITNESS.verifier_key, BODY, found[0].line) == 1679315147


def test_a_note_key_and_a_cosigner_key_are_not_interchangeable() -> None:
    """The type byte separates roles: Go's type 0x01 vector key is no cosigner, and ours is no
    note key; the same key under the same name gets another key id per type."""
    with pytest.raises(ValueError, match="0x04"):
        CosignatureVerifier.from_verifier_key(VECTORS["peter_verifier_key"])
    with pytest.raises(ValueError, match="0x01"):
        parse_verifier_key(WITNESS.verifier_key)
    signer, _ = generate_signer("verdict.example/log")
    note = signer.sign(BODY)
    assert open_note(note + WITNESS.cosign(BODY, 5), signer.verifier_key) == BODY
    with pytest.raises(UnknownKey):
        open_note(BODY + "\n" + WITNESS.cosign(BODY, 5), signer.verifier_key)


def test_golang_note_vectors_carry_no_cosignature() -> None:
    """Go's signed note (a 0x01 signature) holds nothing for a cosignature verifier."""
    assert open_cosignatures(VECTORS["peter_signed_note"], [VERIFIER]) == []


# -- refusals --


def tamper(line: str, index: int) -> str:
    name, signature = parse_signature_line(line.removesuffix("\n"))
    raw = bytearray(signature)
    raw[index] ^= 1
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"


def test_a_changed_text_timestamp_or_signature_is_refused() -> None:
    """Every byte counts: the text, the timestamp (bytes 4..11) and the signature."""
    line = WITNESS.cosign(BODY, 1000)
    assert VERIFIER.verify(BODY, line) == 1000
    with pytest.raises(BadSignature):
        VERIFIER.verify(BODY.replace("20852163", "20852164"), line)
    with pytest.raises(BadSignature):
        VERIFIER.verify(BODY, tamper(line, 11))
    with pytest.raises(BadSignature):
        VERIFIER.verify(BODY, tamper(line, 40))


def test_lines_of_other_keys_are_foreign() -> None:
    """Another witness, or another key under the same name: UnknownKey, and ignored in a note."""
    other = Cosigner("witness.example/w2", Ed25519PrivateKey.generate())
    impostor = Cosigner(WITNESS.name, Ed25519PrivateKey.generate())
    for cosigner in (other, impostor):
        line = cosigner.cosign(BODY, 7)
        with pytest.raises(UnknownKey):
            VERIFIER.verify(BODY, line)
        assert open_cosignatures(BODY + "\n" + line, [VERIFIER]) == []


def test_a_bad_line_from_a_trusted_witness_rejects_the_note() -> None:
    """signed-note: a failing signature from a known key rejects the whole note."""
    good, bad = WITNESS.cosign(BODY, 1), tamper(WITNESS.cosign(BODY, 2), 50)
    with pytest.raises(BadSignature):
        open_cosignatures(BODY + "\n" + good + bad, [VERIFIER])


def test_wrong_length_and_malformed_lines_are_refused() -> None:
    """A short payload under our key id is a bad signature; a line without the em dash is not
    a signature line at all."""
    short = base64.b64encode(VERIFIER.key.key_id + b"\x00" * 70).decode()
    with pytest.raises(BadSignature, match="76"):
        VERIFIER.verify(BODY, f"\u2014 {WITNESS.name} {short}\n")
    with pytest.raises(MalformedNote):
        VERIFIER.verify(BODY, WITNESS.cosign(BODY, 1)[2:])


def test_cosign_refuses_what_is_not_a_checkpoint_or_a_timestamp() -> None:
    """Only checkpoint texts are cosigned, at a timestamp within 0..2^63-1."""
    with pytest.raises(ValueError, match="checkpoint"):
        WITNESS.cosign("just a note\n", 1)
    for timestamp in (-1, MAX_TIMESTAMP + 1):
        with pytest.raises(ValueError, match="timestamp"):
            WITNESS.cosign(BODY, timestamp)
    assert spec_verify(WITNESS.verifier_key, BODY, WITNESS.cosign(BODY, MAX_TIMESTAMP)) > 0
    assert VERIFIER.verify(BODY, WITNESS.cosign(BODY, MAX_TIMESTAMP)) == MAX_TIMESTAMP


@given(st.integers(0, MAX_TIMESTAMP))
def test_timestamps_round_trip(timestamp: int) -> None:
    """Any permitted timestamp is what the verifier reads back."""
    assert VERIFIER.verify(BODY, WITNESS.cosign(BODY, timestamp)) == timestamp


WHO = f"witness.example/w1+{VERIFIER.key.key_id.hex()}"
"""How the refusals name WITNESS's key."""


def signature_line(payload: bytes) -> str:
    return f"\u2014 {WITNESS.name} {base64.b64encode(payload).decode()}\n"


def test_each_bad_cosignature_is_refused_naming_the_key() -> None:
    """A short payload, a timestamp past 2^63 - 1, a signature that does not verify, a line by
    another key: each refused with its whole message, naming the key."""
    line = WITNESS.cosign(BODY, 1000)
    payload = base64.b64decode(line.split(" ")[-1])
    cases = [
        (signature_line(payload[:-1]), BadSignature, f"cosignature by {WHO} is 75 bytes, not 76"),
        (
            signature_line(payload[:4] + (2**63).to_bytes(8, "big") + payload[12:]),
            BadSignature,
            f"cosignature by {WHO} has a timestamp above 2^63 - 1",
        ),
        (tamper(line, 40), BadSignature, f"invalid cosignature by {WHO}"),
        (
            Cosigner("witness.example/w2", Ed25519PrivateKey.generate()).cosign(BODY, 7),
            UnknownKey,
            f"signature line is not by {WHO}",
        ),
    ]
    for bad, error, message in cases:
        with pytest.raises(error, match=exactly(message)):
            VERIFIER.verify(BODY, bad)


def test_a_verified_cosignature_names_its_verifier_key_and_line() -> None:
    """open_cosignatures hands back the witness's own verifier key string, the timestamp and
    the line as it was in the note."""
    line = WITNESS.cosign(BODY, 1000)
    verifier = CosignatureVerifier.from_verifier_key(WITNESS.verifier_key)  # built under test
    assert verifier.verifier_key == WITNESS.verifier_key
    [found] = open_cosignatures(BODY + "\n" + line, [verifier])
    assert (found.verifier_key, found.timestamp, found.line) == (WITNESS.verifier_key, 1000, line)


@pytest.mark.parametrize("name", ["", "two words", "a+b"])
def test_a_cosigner_name_is_a_key_name(name: str) -> None:
    """No empty name, space or '+': the name is the first field of the verifier key."""
    with pytest.raises(
        ValueError,
        match=exactly(f"cosigner name {name!r} must be non-empty, without spaces or '+'"),
    ):
        Cosigner(name, Ed25519PrivateKey.generate())
