"""`POST /add-checkpoint` against the C2SP tlog-witness rules, status by status, through the
ASGI app on a real state file; a refusal never changes what the witness stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from api.witness.protocol import MAX_BODY, format_add_checkpoint
from api.witness.server import create_witness_app
from api.witness.state import NEVER_COSIGNED, TreeHead
from api.witness.witness import Witness
from projections.audit.cosignature import CosignatureVerifier, open_cosignatures
from projections.audit.signed_note import generate_signer, open_note
from tests.api.witness.tlog import TestLog


@pytest.fixture
def client(witness: Witness) -> Iterator[TestClient]:
    with TestClient(create_witness_app(witness)) as client:
        yield client


def post(client: TestClient, body: bytes) -> tuple[int, str, str]:
    response = client.post("/add-checkpoint", content=body)
    return response.status_code, response.headers["content-type"], response.text


def cosign(client: TestClient, tlog: TestLog, old: int, size: int) -> str:
    status, _, body = post(client, tlog.request(old, size))
    assert status == 200, body
    return body


def test_the_first_checkpoint_is_cosigned_from_old_size_zero(
    client: TestClient, tlog: TestLog, witness: Witness
) -> None:
    """200 with one cosignature/v1 line that verifies on the checkpoint; the head is stored."""
    status, content_type, body = post(client, tlog.request(0, 10))
    assert (status, content_type) == (200, "text/plain; charset=utf-8")
    assert body.startswith("\u2014 witness.example/w1 ") and body.count("\n") == 1
    note = tlog.note(10) + body
    verifier = CosignatureVerifier.from_verifier_key(witness.cosigner.verifier_key)
    [cosignature] = open_cosignatures(note, [verifier])
    assert cosignature.timestamp == 1_700_000_000
    assert open_note(note, tlog.verifier_key) == open_note(tlog.note(10), tlog.verifier_key)
    assert witness.state.latest(tlog.origin) == TreeHead(10, tlog.root(10))


@pytest.mark.parametrize("size", [27, 10], ids=["an-extension", "the-same-checkpoint"])
def test_a_consistent_checkpoint_is_cosigned(
    client: TestClient, tlog: TestLog, witness: Witness, size: int
) -> None:
    """From the size last cosigned, with its consistency proof: 200, and the head moves to the
    new size; old == size with the same root gets a fresh cosignature, and the head stays."""
    cosign(client, tlog, 0, 10)
    cosign(client, tlog, 10, size)
    assert witness.state.latest(tlog.origin) == TreeHead(size, tlog.root(size))


def test_an_empty_first_checkpoint_is_cosigned(client: TestClient, tlog: TestLog) -> None:
    """A log of size 0 has the empty tree's root; old 0 to size 0 is the same tree."""
    cosign(client, tlog, 0, 0)
    cosign(client, tlog, 0, 5)


# -- refusals: each answers its status and leaves the state as it was --


def refused(
    client: TestClient, witness: Witness, tlog: TestLog, body: bytes, status: int
) -> tuple[str, str]:
    before = witness.state.latest(tlog.origin)
    got, content_type, text = post(client, body)
    assert got == status, text
    assert witness.state.latest(tlog.origin) == before
    return content_type, text


def test_an_unknown_origin_is_404(client: TestClient, witness: Witness) -> None:
    """A log the witness was not told about, even well signed and consistent: 404."""
    other = TestLog([b"x"] * 4, origin="other.example/log")
    content_type, _ = refused(client, witness, other, other.request(0, 4), 404)
    assert content_type == "application/problem+json"
    # The origin is checked before the sizes.
    refused(client, witness, other, other.request(9, 4, proof=[]), 404)


def test_no_trusted_signature_is_403(client: TestClient, tlog: TestLog, witness: Witness) -> None:
    """Signed by another key under the log's name, or with a broken signature: 403."""
    impostor = generate_signer(tlog.origin)[0]
    forged = format_add_checkpoint(0, [], tlog.note(10, signer=impostor))
    content_type, _ = refused(client, witness, tlog, forged, 403)
    assert content_type == "application/problem+json"
    good = tlog.note(10)
    head, _, b64 = good[:-1].rpartition(" ")
    broken = f"{head} {b64[:10]}{'A' if b64[10] != 'A' else 'B'}{b64[11:]}\n"
    refused(client, witness, tlog, format_add_checkpoint(0, [], broken), 403)
    # A broken line by the log's key rejects the note even beside a good one.
    both = good + broken.rpartition("\n\n")[2]
    refused(client, witness, tlog, format_add_checkpoint(0, [], both), 403)


def test_old_size_above_the_checkpoint_size_is_400(
    client: TestClient, tlog: TestLog, witness: Witness
) -> None:
    """old > size: 400, whatever the witness stored."""
    cosign(client, tlog, 0, 10)
    refused(client, witness, tlog, tlog.request(12, 11, proof=[]), 400)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0\n",
        b"old x\n\nverdict.example/log\n1\n",
        b"\xff\xfe",
    ],
)
def test_malformed_bodies_are_400(
    client: TestClient, tlog: TestLog, witness: Witness, body: bytes
) -> None:
    """Not the request format: 400 as a problem."""
    content_type, _ = refused(client, witness, tlog, body, 400)
    assert content_type == "application/problem+json"


def test_a_proof_from_old_size_zero_is_400(
    client: TestClient, tlog: TestLog, witness: Witness
) -> None:
    """tlog-witness: the proof MUST be empty if the old size is zero."""
    refused(client, witness, tlog, tlog.request(0, 10, proof=tlog.proof(4, 10)), 400)


def test_an_old_size_that_is_not_the_last_cosigned_is_409(
    client: TestClient, tlog: TestLog, witness: Witness
) -> None:
    """409 with `text/x.tlog.size`: the size last cosigned (0 for a log never cosigned)."""
    content_type, body = refused(client, witness, tlog, tlog.request(5, 10), 409)
    assert (content_type, body) == ("text/x.tlog.size", "0\n")
    cosign(client, tlog, 0, 10)
    for old in (0, 5, 11):
        assert refused(client, witness, tlog, tlog.request(old, 20), 409)[1] == "10\n"
    assert witness.state.latest(tlog.origin) == TreeHead(10, tlog.root(10))


def test_the_same_size_with_another_root_is_409(
    client: TestClient, tlog: TestLog, witness: Witness
) -> None:
    """old == size == last cosigned but another root (a fork at equal size): 409."""
    cosign(client, tlog, 0, 10)
    content_type, body = refused(client, witness, tlog, tlog.request(10, 10, root=b"f" * 32), 409)
    assert (content_type, body) == ("text/x.tlog.size", "10\n")
    # The empty tree has one root too.
    fresh = TestLog([b"y"] * 3, origin=tlog.origin)
    assert fresh.root(0) == NEVER_COSIGNED.root


def test_a_proof_that_does_not_verify_is_422(
    client: TestClient, tlog: TestLog, witness: Witness
) -> None:
    """A tampered proof, another tree's proof, a wrong root, a proof between equal sizes."""
    cosign(client, tlog, 0, 10)
    proof = tlog.proof(10, 20)
    tampered = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    refused(client, witness, tlog, tlog.request(10, 20, proof=tampered), 422)
    fork = TestLog([b"forked"] * 20, origin=tlog.origin)
    fork.signer = tlog.signer  # the log's own key signing a rewritten history
    content_type, _ = refused(client, witness, tlog, fork.request(10, 20), 422)
    assert content_type == "application/problem+json"
    refused(client, witness, tlog, tlog.request(10, 20, root=tlog.root(21)), 422)
    refused(client, witness, tlog, tlog.request(10, 20, proof=[]), 422)
    refused(client, witness, tlog, tlog.request(10, 10, proof=proof[:1]), 422)
    cosign(client, tlog, 10, 20)


def test_a_body_over_the_limit_is_413(client: TestClient, tlog: TestLog, witness: Witness) -> None:
    """The witness stops reading past MAX_BODY."""
    refused(client, witness, tlog, tlog.request(0, 3) + b"x" * MAX_BODY, 413)


def test_only_post_add_checkpoint_is_served(client: TestClient) -> None:
    """GET is 405, other paths 404."""
    assert client.get("/add-checkpoint").status_code == 405
    assert client.post("/checkpoint", content=b"").status_code == 404


def test_fork_evidence_is_logged(
    client: TestClient, tlog: TestLog, witness: Witness, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed proof and a same-size other root are logged at warning with the note sent."""
    cosign(client, tlog, 0, 10)
    with caplog.at_level("WARNING", logger="verdict.witness"):
        post(client, tlog.request(10, 20, root=tlog.root(21)))
        post(client, tlog.request(10, 10, root=b"f" * 32))
        post(client, tlog.request(3, 20))  # a plain stale size is no evidence of anything
    messages = [r.getMessage() for r in caplog.records if r.name == "verdict.witness"]
    assert [m.split(":")[0] for m in messages] == ["inconsistent", "fork"]
    assert all(tlog.origin in m for m in messages)
