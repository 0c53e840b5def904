"""tlog-proof@v1 texts: the spec's own example parses, and for random trees a formatted proof
parses back into one that verifies against the checkpoint's root (and a flipped bit does not)."""

from __future__ import annotations

import pytest
from hypothesis import given

from projections.audit import merkle
from projections.audit.signed_note import format_checkpoint, generate_signer, parse_checkpoint
from projections.audit.tlog_proof import HEADER, format_tlog_proof, parse_tlog_proof
from tests.builders import exactly
from tests.strategies import inclusion_targets

ORIGIN = "verdict.example/log"

SPEC_EXAMPLE = """c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

— example.com/fancylog hI2DJw==
"""
"""The example of C2SP tlog-proof.md, its elided signatures shortened to valid base64."""


def test_the_spec_example_parses() -> None:
    """extra, index, two proof lines and the checkpoint verbatim."""
    proof = parse_tlog_proof(SPEC_EXAMPLE)
    assert proof.index == 73894
    assert proof.extra == b"age-v1.2.1-darwin-arm64.tar.gz"
    assert len(proof.proof) == 2
    assert proof.checkpoint.startswith("example.com/fancylog\n109482\n")
    assert proof.checkpoint.endswith("— example.com/fancylog hI2DJw==\n")


@given(inclusion_targets)
def test_a_formatted_proof_verifies_after_parsing(target: tuple[int, int]) -> None:
    """Leaf I of a tree of size N: the parsed proof leads to the checkpoint's root."""
    index, size = target
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(size)]
    nodes = merkle.MemoryNodes.of(leaves)
    root = merkle.root(size, nodes)
    signer, _ = generate_signer(ORIGIN)
    note = signer.sign(format_checkpoint(ORIGIN, size, root))
    text = format_tlog_proof(index, merkle.inclusion_proof(index, size, nodes), note)
    assert text.startswith(HEADER + "\nindex ")
    parsed = parse_tlog_proof(text)
    assert parsed.checkpoint == note and parsed.extra is None
    checkpoint = parse_checkpoint(parsed.checkpoint.split("\n\n")[0] + "\n")
    assert merkle.verify_inclusion(
        leaves[index], parsed.index, checkpoint.size, list(parsed.proof), checkpoint.root
    )
    if parsed.proof:
        bent = [bytes([parsed.proof[0][0] ^ 1]) + parsed.proof[0][1:], *parsed.proof[1:]]
        assert not merkle.verify_inclusion(
            leaves[index], parsed.index, checkpoint.size, bent, checkpoint.root
        )


LONG = "!" * 70
"""A bad line longer than the 60 characters an error message quotes of it."""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "c2sp.org/tlog-proof@v2\nindex 1\n\nx\n",
            "a tlog-proof starts with 'c2sp.org/tlog-proof@v1'",
        ),
        (HEADER + "\nindex 01\n\nx\n", "a tlog-proof names its leaf on an 'index N' line"),
        (HEADER + "\n\nx\n", "a tlog-proof names its leaf on an 'index N' line"),
        (HEADER + "\nindex 1\nAAAA\n\nx\n", "proof hashes must be 32 bytes"),
        (
            HEADER + "\nindex 1\n",
            "a tlog-proof needs a blank line and a checkpoint after its proof",
        ),
        (
            HEADER + "\nindex 1\n\n",
            "a tlog-proof needs a blank line and a checkpoint after its proof",
        ),
        (HEADER + "\nindex 1\nnot base64!\n\nx\n", "proof hash 'not base64!' is not base64"),
        (HEADER + "\nindex 1\nAAB=\n\nx\n", "proof hash 'AAB=' is not canonical base64"),
        (HEADER + f"\nindex 1\n{LONG}\n\nx\n", f"proof hash {LONG[:60]!r} is not base64"),
        (HEADER + "\nextra !!\nindex 1\n\nx\n", "extra data '!!' is not base64"),
    ],
    ids=[
        "header",
        "leading-zero",
        "no-index",
        "short-hash",
        "no-checkpoint",
        "empty-checkpoint",
        "bad-base64",
        "uncanonical-base64",
        "long-line",
        "bad-extra",
    ],
)
def test_malformed_proofs_are_refused(text: str, message: str) -> None:
    """Wrong header, no index or one with a leading zero, a short hash, no checkpoint, bad
    base64 in a proof or extra line: each refused with its own message (a long line quoted up
    to 60 characters)."""
    with pytest.raises(ValueError, match=exactly(message)):
        parse_tlog_proof(text)


def test_format_refuses_a_negative_index_and_short_hashes() -> None:
    """The writer refuses what the parser would."""
    with pytest.raises(ValueError, match=exactly("leaf index -1 is negative")):
        format_tlog_proof(-1, [], "x\n")
    with pytest.raises(ValueError, match=exactly("proof hashes must be 32 bytes")):
        format_tlog_proof(0, [b"\x00" * 32, b"\x00" * 31], "x\n")
