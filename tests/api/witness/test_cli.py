"""`verdict witness` as a process: its key on the first line and kept in its state file, what it
cosigned surviving a kill -9, and concurrent submissions against the real server."""

from __future__ import annotations

import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.server.cli import main
from api.witness.protocol import parse_tlog_size
from api.witness.state import TreeHead, WitnessState
from projections.audit.cosignature import CosignatureVerifier, Cosigner, open_cosignatures
from tests.api.witness.tlog import TestLog
from tests.serving import witnessing

VKEY = re.compile(r"witness\.example/w1\+[0-9a-f]{8}\+B[A-Za-z0-9+/]{43}")
"""name+key id+base64(0x04 || 32 bytes): 0x04 makes the first character B."""


def add_checkpoint(url: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{url}/add-checkpoint", content=body, timeout=10)


@pytest.mark.slow
def test_what_it_cosigned_survives_kill_9_and_so_does_its_key(
    tmp_path: Path, tlog: TestLog
) -> None:
    """Cosign up to 20, kill -9, restart on the same state file: the same verifier key on the
    first line, 409 "20" for the stale old size 10, and 20 to 30 cosigned by that same key."""
    state = tmp_path / "witness.db"
    with witnessing(state, [tlog.verifier_key], tmp_path / "first.log") as first:
        assert VKEY.fullmatch(first.verifier_key)
        for old, size in ((0, 10), (10, 20)):
            assert add_checkpoint(first.url, tlog.request(old, size)).status_code == 200
        os.kill(first.process.pid, signal.SIGKILL)
        assert first.process.wait(timeout=10) == -signal.SIGKILL
    with witnessing(state, [tlog.verifier_key], tmp_path / "second.log") as second:
        assert second.verifier_key == first.verifier_key
        stale = add_checkpoint(second.url, tlog.request(10, 30))
        assert stale.status_code == 409
        assert stale.headers["content-type"] == "text/x.tlog.size"
        assert parse_tlog_size(stale.content) == 20
        cosigned = add_checkpoint(second.url, tlog.request(20, 30))
        assert cosigned.status_code == 200
    verifier = CosignatureVerifier.from_verifier_key(first.verifier_key)
    assert len(open_cosignatures(tlog.note(30) + cosigned.text, [verifier])) == 1


@pytest.mark.slow
def test_concurrent_submissions_to_the_server_never_roll_back(
    tmp_path: Path, tlog: TestLog
) -> None:
    """Eight add-checkpoints from size 10 to sizes 11..18 at once, three rounds: each round
    exactly one is cosigned, the others get 409 naming it, and the stored size only grows."""
    state = tmp_path / "witness.db"
    with witnessing(state, [tlog.verifier_key], tmp_path / "witness.log") as witness:
        assert add_checkpoint(witness.url, tlog.request(0, 10)).status_code == 200
        old, sizes = 10, []
        with ThreadPoolExecutor(8) as pool:
            for _ in range(3):
                targets = [old + k for k in range(1, 9)]
                bodies = [tlog.request(old, size) for size in targets]
                answers = list(pool.map(lambda body: add_checkpoint(witness.url, body), bodies))
                codes = [a.status_code for a in answers]
                [winner] = [size for size, code in zip(targets, codes, strict=True) if code == 200]
                assert codes.count(409) == 7
                assert {parse_tlog_size(a.content) for a in answers if a.status_code == 409} == {
                    winner
                }
                old = winner
                sizes.append(old)
    assert sizes == sorted(sizes)
    assert WitnessState(state).latest(tlog.origin) == TreeHead(old, tlog.root(old))


@pytest.mark.slow
def test_the_state_file_defaults_to_var_under_the_working_directory(
    tmp_path: Path, tlog: TestLog
) -> None:
    """Without --state: var/witness.db in the folder it was started from, holding the key
    whose verifier key it printed."""
    with witnessing(None, [tlog.verifier_key], tmp_path / "w.log", cwd=tmp_path) as witness:
        raw = WitnessState(tmp_path / "var" / "witness.db").private_key()
        cosigner = Cosigner("witness.example/w1", Ed25519PrivateKey.from_private_bytes(raw))
        assert witness.verifier_key == cosigner.verifier_key
        output = (tmp_path / "w.log").read_text().splitlines()
        assert output[1] == f"witnessing {tlog.origin} at {witness.url}/add-checkpoint"


@pytest.mark.parametrize(
    "argv",
    [
        ["--listen", "127.0.0.1", "--name", "w"],
        ["--listen", "127.0.0.1:0", "--name", "w"],
        ["--listen", "127.0.0.1:8000", "--name", "w x"],
        ["--listen", "127.0.0.1:8000", "--name", "w+x"],
        ["--listen", "127.0.0.1:8000", "--name", "w", "--log", "not-a-key"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], tlog: TestLog) -> None:
    """A listen address without a port, a key name with a space or '+', a --log that is no
    verifier key: usage errors."""
    with pytest.raises(SystemExit) as exited:
        main(["witness", *argv, "--log", tlog.verifier_key])
    assert exited.value.code == 2
