"""Fixtures of the witness tests: a log, and a witness on a fresh state file that trusts it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.witness.state import WitnessState
from api.witness.witness import Witness
from projections.audit.cosignature import Cosigner
from tests.api.witness.tlog import TestLog

LEAVES = [f"event {i}".encode() for i in range(40)]


@pytest.fixture
def tlog() -> TestLog:
    return TestLog(LEAVES)


@pytest.fixture
def witness(tlog: TestLog, tmp_path: Path) -> Witness:
    state = WitnessState(tmp_path / "witness.db")
    cosigner = Cosigner(
        "witness.example/w1", Ed25519PrivateKey.from_private_bytes(state.private_key())
    )
    return Witness(cosigner, [tlog.verifier_key], state, clock=lambda: 1_700_000_000)
