"""The ledger asking real witnesses (`verdict witness` subprocesses on 127.0.0.1), on SQLite and
PostgreSQL: checkpoints get cosigned and served once the quorum has; a witness that refuses
is shown and counted; a witness that is down or hangs never holds up votes or checkpoints,
and its cosignatures catch up when it answers again."""

from __future__ import annotations

import base64
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import open_runtime
from api.server import witnessing
from api.server.supervisor import stop
from domain.seeding import seed_demo
from domain.settings import Settings, Witness
from projections.audit.cosignature import CosignatureVerifier, open_cosignatures
from projections.audit.signed_note import generate_signer, open_checkpoint
from tests.scripts.serving_audit import VERIFY, load_verifier
from tests.serving import ROOT, free_port

START_SECONDS = 20.0


@contextmanager
def witness_process(
    tmp: Path, name: str, log_key: str, port: int | None = None
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """`verdict witness` trusting `log_key`: (submission URL, its verifier key, the process),
    once it prints its key and accepts connections; stopped by its PID afterwards."""
    port = port or free_port()
    out = tmp / f"{name}.out"
    argv = [sys.executable, "-m", "api.server.cli", "witness", "--listen", f"127.0.0.1:{port}"]
    argv += ["--name", name, "--log", log_key, "--state", str(tmp / f"{name}.db")]
    with out.open("w") as sink:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _listening(port):
            assert proc.poll() is None, f"verdict witness exited: {out.read_text()}"
            assert time.monotonic() < deadline, f"witness not up in {START_SECONDS} s"
            time.sleep(0.05)
        vkey = out.read_text().splitlines()[0]
        yield f"http://127.0.0.1:{port}", vkey, proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
        stop(proc, 10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def demo_ledger(settings: Settings) -> str:
    """Seed the demo data; the log's verifier key (made on this first start)."""
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    key = runtime.signer.verifier_key
    runtime.close()
    return key


def vote(client: TestClient, n: int = 1) -> dict[str, Any]:
    """Cast `n` fresh votes; the last one's answer."""
    answer: Any = None
    for _ in range(n):
        token = client.post("/v1/voters").json()["token"]
        answer = client.put(
            "/v1/tools/smollm3/vote",
            json={"choice": "ship"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 201
    written: dict[str, Any] = answer.json()
    return written


def newest_signed(client: TestClient) -> int:
    after, size = 0, 0
    while page := client.get("/v1/audit/checkpoints", params={"after": after}).json():
        if not page["checkpoints"]:
            break
        size = page["checkpoints"][-1]["size"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    return int(size)


def eventually(what: str, check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.05)


def served_size(client: TestClient, log_key: str) -> int:
    answer = client.get("/v1/audit/checkpoint")
    return open_checkpoint(answer.text, log_key).size if answer.status_code == 200 else -1


def offline_check(
    client: TestClient, receipt: dict[str, Any], log_key: str, witnesses: list[str], tmp: Path
) -> None:
    """The independent verifier (scripts/verify.py, a subprocess) accepts the vote's
    tlog-proof offline with a quorum of both witnesses, and opens its receipt's promise."""
    proof = client.get("/v1/audit/proofs/tlog-proof", params={"position": receipt["position"]})
    assert proof.status_code == 200
    (tmp / "vote.tlog-proof").write_text(proof.text)
    argv = [sys.executable, str(VERIFY), "--tlog-proof", str(tmp / "vote.tlog-proof")]
    argv += ["--leaf-hash", receipt["leaf_hash"], "--public-key", log_key, "--quorum", "2"]
    argv += [arg for key in witnesses for arg in ("--witness", key)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "VERDICT: OK" in done.stdout, done.stdout + done.stderr
    verifier = load_verifier()
    promise = verifier.open_promise(receipt["promise"], verifier.parse_verifier_key(log_key))
    assert (receipt["position"], base64.b64decode(receipt["leaf_hash"])) in promise.leaves


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Witness requests time out after 1 s and back off at most 1 s: a hung witness costs the
    test seconds, not minutes."""
    monkeypatch.setattr(witnessing, "TIMEOUT_SECONDS", 1.0)
    monkeypatch.setattr(witnessing, "MAX_BACKOFF_SECONDS", 1.0)


def test_real_witnesses_cosign_and_a_refusal_is_shown(
    settings: Settings, tmp_path: Path, quick: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Two witnesses trusting the log and one trusting another key, quorum 2: the newest
    checkpoint is served with both valid cosignatures, /v1/audit/witnesses shows each one's
    size, and the third's 403 refusal is kept and counted in /metrics."""
    log_key = demo_ledger(settings)
    stranger = generate_signer(settings.log_origin)[0].verifier_key
    with (
        witness_process(tmp_path, "w1.test", log_key) as (url1, key1, _),
        witness_process(tmp_path, "w2.test", log_key) as (url2, key2, _),
        witness_process(tmp_path, "w3.test", stranger) as (url3, key3, _),
    ):
        witnesses = [
            Witness(url=url, verifier_key=key)
            for url, key in ((url1, key1), (url2, key2), (url3, key3))
        ]
        configured = settings.model_copy(update={"witnesses": witnesses, "witness_quorum": 2})
        with TestClient(create_app(configured)) as client:
            written = vote(client, 3)
            eventually("a cosigned checkpoint of 44", lambda: served_size(client, log_key) >= 44)
            offline_check(client, written["receipt"], log_key, [key1, key2], tmp_path)
            note = client.get("/v1/audit/checkpoint").text
            verifiers = [CosignatureVerifier.from_verifier_key(k) for k in (key1, key2, key3)]
            assert {c.verifier_key for c in open_cosignatures(note, verifiers)} == {key1, key2}
            shown = {w["url"]: w for w in client.get("/v1/audit/witnesses").json()["witnesses"]}
            size = open_checkpoint(note, log_key).size
            assert shown[url1]["last_size"] == shown[url2]["last_size"] == size
            assert shown[url1]["last_refusal"] is None
            eventually(
                "the refusal is kept",
                lambda: (
                    client.get("/v1/audit/witnesses").json()["witnesses"][2]["last_refusal"]
                    is not None
                ),
            )
            refusal = client.get("/v1/audit/witnesses").json()["witnesses"][2]["last_refusal"]
            assert refusal["status"] == 403 and refusal["body"]
            figures = client.get("/metrics").text
            assert 'verdict_witness_refusals_total{status="403",witness="w3.test"}' in figures
            logged = [r for r in caplog.records if r.name == "verdict.witnesses"]
            assert any(r.levelno == logging.ERROR and url3 in r.getMessage() for r in logged)


def test_a_witness_down_or_hung_holds_nothing_up_and_catches_up(
    settings: Settings, tmp_path: Path, quick: None
) -> None:
    """Witness not started: votes are answered, checkpoints signed, none served. Started: the
    newest is cosigned. Hung (SIGSTOP): votes and checkpoints go on; resumed: caught up."""
    log_key = demo_ledger(settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with witness_process(tmp_path, "w.test", log_key) as (_, key, _):
        pass  # its key is made on first start and kept in its state file
    configured = settings.model_copy(update={"witnesses": [Witness(url=url, verifier_key=key)]})
    with TestClient(create_app(configured)) as client:
        vote(client, 10)
        eventually(
            "checkpoints signed while the witness is down", lambda: newest_signed(client) >= 51
        )
        assert client.get("/v1/audit/checkpoint").status_code == 404
        with witness_process(tmp_path, "w.test", log_key, port) as (_, same_key, proc):
            assert same_key == key
            eventually("cosigned once it is up", lambda: served_size(client, log_key) >= 51)
            os.kill(proc.pid, signal.SIGSTOP)
            vote(client, 10)
            eventually("checkpoints signed while it hangs", lambda: newest_signed(client) >= 61)
            assert served_size(client, log_key) < 61
            os.kill(proc.pid, signal.SIGCONT)
            eventually("caught up after it resumes", lambda: served_size(client, log_key) >= 61)
        figures = client.get("/metrics").text
        assert 'verdict_witness_unreachable_total{witness="w.test"}' in figures
