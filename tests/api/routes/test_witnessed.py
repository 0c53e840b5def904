"""Witnessed checkpoints through the API, on SQLite and PostgreSQL, with real cosignatures (made
with witness keys, as a witness makes them): the quorum rule of /v1/audit/checkpoint, the
cosignatures of /v1/audit/checkpoints, /v1/audit/witnesses, and offline tlog-proofs that
check out with the Merkle code and the keys alone."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings, Witness
from projections.audit import merkle
from projections.audit.cosignature import CosignatureVerifier, Cosigner, open_cosignatures
from projections.audit.signed_note import open_checkpoint, split_note
from projections.audit.tlog_proof import parse_tlog_proof
from projections.audit.witness_store import WitnessStore, newest_witnessed


@dataclass
class Witnessing:
    client: TestClient
    settings: Settings
    cosigners: list[Cosigner]
    store: WitnessStore
    log_key: str

    def cosign(self, n: int, size: int) -> None:
        """Witness n cosigns the stored checkpoint of `size`, as `verdict witness` would."""
        runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        checkpoint = runtime.audit.checkpoint_covering(size)
        assert checkpoint is not None and checkpoint.size == size
        text, _ = split_note(checkpoint.note)
        line = self.cosigners[n].cosign(text, int(time.time()))
        witness = self.settings.witnesses[n]
        self.store.cosigned(witness.url, witness.verifier_key, size, line)

    def signed(self, at_least: int) -> int:
        """The newest signed size once it reaches `at_least` (bounded wait)."""
        deadline = time.monotonic() + 10
        while True:
            found = self.client.get("/v1/audit/checkpoints").json()["checkpoints"]
            if found and found[-1]["size"] >= at_least:
                return int(found[-1]["size"])
            assert time.monotonic() < deadline, f"no checkpoint of {at_least} in 10 s"
            time.sleep(0.02)


@pytest.fixture
def witnessing(settings: Settings) -> Iterator[Witnessing]:
    """The demo ledger with two configured witnesses (quorum: both) that nothing listens for:
    the test cosigns in their place."""
    cosigners = [Cosigner(f"w{n}.test", Ed25519PrivateKey.generate()) for n in (1, 2)]
    witnesses = [
        Witness(url=f"http://127.0.0.1:9/w{n}", verifier_key=c.verifier_key)
        for n, c in enumerate(cosigners, 1)
    ]
    settings = settings.model_copy(update={"witnesses": witnesses})
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    log_key = runtime.signer.verifier_key
    runtime.close()
    with TestClient(create_app(settings)) as client:
        store = client.app.state.runtime.witnessed  # type: ignore[attr-defined]
        yield Witnessing(client, settings, cosigners, store, log_key)


def vote(client: TestClient, slug: str) -> dict[str, str]:
    token = client.post("/v1/voters").json()["token"]
    answer = client.put(
        f"/v1/tools/{slug}/vote",
        json={"choice": "ship"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201
    receipt: dict[str, str] = answer.json()["receipt"]
    return receipt


def test_checkpoint_is_served_once_the_quorum_cosigned_it(witnessing: Witnessing) -> None:
    """Quorum 2: nothing is served with one cosignature, checkpoint 41 with both (each line
    verifying), and 41 still when only one witness cosigned the newer 42; quorum 1 takes 42."""
    w, client = witnessing, witnessing.client
    w.signed(41)
    assert client.get("/v1/audit/checkpoint").status_code == 404
    w.cosign(0, 41)
    assert client.get("/v1/audit/checkpoint").status_code == 404
    w.cosign(1, 41)
    note = client.get("/v1/audit/checkpoint").text
    assert open_checkpoint(note, w.log_key).size == 41
    verifiers = [CosignatureVerifier.from_verifier_key(c.verifier_key) for c in w.cosigners]
    assert {c.verifier_key for c in open_cosignatures(note, verifiers)} == {
        c.verifier_key for c in w.cosigners
    }
    vote(client, "smollm3")
    w.signed(42)
    w.cosign(0, 42)
    assert open_checkpoint(client.get("/v1/audit/checkpoint").text, w.log_key).size == 41
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    keys = [x.verifier_key for x in w.settings.witnesses]
    one = newest_witnessed(runtime.audit, w.store, keys, 1)
    assert one is not None and one.checkpoint.size == 42 and len(one.cosignatures) == 1
    listed = client.get("/v1/audit/checkpoints").json()["checkpoints"]
    by_size = {cp["size"]: [c["witness"] for c in cp["cosignatures"]] for cp in listed}
    assert sorted(by_size[41]) == sorted(keys) and by_size[42] == [keys[0]]
    shown = client.get("/v1/audit/witnesses").json()
    assert shown["quorum"] == 2
    assert [(x["url"], x["last_size"]) for x in shown["witnesses"]] == [
        (w.settings.witnesses[0].url, 42),
        (w.settings.witnesses[1].url, 41),
    ]
    page = client.get("/audit").text
    assert "Witnesses" in page and w.settings.witnesses[1].url in page


def test_tlog_proof_checks_out_offline(witnessing: Witnessing) -> None:
    """A vote's tlog-proof is refused until a witnessed checkpoint covers it; then its index,
    proof and cosigned checkpoint verify with the keys and the receipt alone."""
    w, client = witnessing, witnessing.client
    receipt = vote(client, "smollm3")
    w.signed(42)
    w.cosign(0, 41)
    w.cosign(1, 41)
    early = client.get("/v1/audit/proofs/tlog-proof", params={"position": receipt["position"]})
    assert early.status_code == 422 and early.json()["field"] == "position"
    w.cosign(0, 42)
    w.cosign(1, 42)
    answer = client.get("/v1/audit/proofs/tlog-proof", params={"position": receipt["position"]})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    proof = parse_tlog_proof(answer.text)
    checkpoint = open_checkpoint(proof.checkpoint, w.log_key)
    verifiers = [CosignatureVerifier.from_verifier_key(c.verifier_key) for c in w.cosigners]
    assert len(open_cosignatures(proof.checkpoint, verifiers)) == 2
    leaf = base64.b64decode(receipt["leaf_hash"])
    assert (proof.index, checkpoint.size) == (41, 42)
    assert merkle.verify_inclusion(
        leaf, proof.index, checkpoint.size, list(proof.proof), checkpoint.root
    )
    other = merkle.leaf_hash(b"not the vote")
    assert not merkle.verify_inclusion(
        other, proof.index, checkpoint.size, list(proof.proof), checkpoint.root
    )
    by_index = client.get("/v1/audit/proofs/tlog-proof", params={"index": 41})
    assert by_index.text == answer.text


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({}, 422, "index"),
        ({"index": 1, "position": 2}, 422, "index"),
        ({"index": -1}, 422, "index"),
        ({"index": "x"}, 422, "index"),
        ({"position": 10**9}, 404, None),
    ],
    ids=["none", "both", "negative", "not-a-number", "unknown-position"],
)
def test_bad_tlog_proof_requests_are_problems(
    witnessing: Witnessing, params: dict[str, object], status: int, field: str | None
) -> None:
    """Absent, doubled or malformed parameters answer problem+json naming the field."""
    answer = witnessing.client.get("/v1/audit/proofs/tlog-proof", params=params)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert field in str(answer.json())
