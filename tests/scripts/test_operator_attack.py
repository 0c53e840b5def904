"""The operator attack, end to end on SQLite and PostgreSQL, caught by all four means: a real
`verdict serve` with a real `verdict witness`, votes, a remembering verifier and a kept receipt;
then, behind the service's back, the last votes are deleted from the event table, the log's
tables wiped and rebuilt, the service restarted (serving unwitnessed checkpoints: quorum 0)
and more votes written. The witness refuses (422) and /v1/audit/witnesses shows it, no
checkpoint past the witnessed size carries a cosignature, `verify.py --witness` fails, the
remembering verifier says FORK, and the kept receipt of a deleted vote says BROKEN PROMISE."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from api.bootstrap import open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit.log import AUDIT, AUDIT_TABLES
from tests.scripts.serving_audit import (
    EventTable,
    Served,
    first_vote,
    random_votes,
    serving,
    settle,
    verdict_line,
    verify,
)
from tests.serving import witnessing

PROMISE_SECONDS = 1


def _witnessed_size(served: Served, at_least: int) -> int:
    """The served (quorum-cosigned) checkpoint's size, once it reaches `at_least`."""
    deadline = time.monotonic() + 20
    with served.http() as http:
        while True:
            answer = http.get("/v1/audit/checkpoint")
            if answer.status_code == 200 and int(answer.text.split("\n")[1]) >= at_least:
                return int(answer.text.split("\n")[1])
            assert time.monotonic() < deadline, f"no cosigned checkpoint of {at_least} in 20 s"
            time.sleep(0.05)


def _checkpoints(served: Served) -> list[dict[str, Any]]:
    """Every stored checkpoint, page by page."""
    found: list[dict[str, Any]] = []
    after = 0
    with served.http() as http:
        while page := http.get("/v1/audit/checkpoints", params={"after": after}).json():
            found += page["checkpoints"]
            if page["next_after"] is None:
                return found
            after = page["next_after"]
    return found


def test_the_operator_attack_is_caught_four_ways(settings: Settings, tmp_path: Path) -> None:
    """See the module docstring; each means is one assertion block below."""
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    log_key = runtime.signer.verifier_key
    runtime.close()
    state = tmp_path / "verifier-state.json"
    with witnessing(tmp_path / "witness.db", [log_key], tmp_path / "witness.out") as witness:
        configured = {
            "VERDICT_WITNESSES": json.dumps(
                [{"url": witness.url, "verifier_key": witness.verifier_key}]
            ),
            "VERDICT_PROMISE_SECONDS": str(PROMISE_SECONDS),
        }
        with serving(settings, tmp_path / "before.log", **configured) as served:
            random_votes(served, 12, seed=3)
            kept = first_vote(served, "skip")
            position = kept["receipt"]["position"]
            witnessed = _witnessed_size(served, settle(served, position))
            code, out = verify(served.url, "--state", str(state), "--witness", witness.verifier_key)
            assert code == 0, out
        receipt = tmp_path / "receipt.json"
        receipt.write_text(json.dumps(kept))

        table = EventTable(settings)
        for doomed in table.positions("Ballot.Cast")[-3:]:
            table.delete(doomed)
        assert position not in table.positions("Ballot.Cast")
        for name in ("audit_checkpoints", "audit_cosignatures", "audit_witnesses"):
            table.run(f"DELETE FROM {name}")  # noqa: S608 - fixed table names
        rebuilt = open_runtime(settings)  # the log's tables wiped: refolded over what is left
        audit = rebuilt.audit
        slot = audit.generations.serving(AUDIT)
        with audit.db.transaction(commit=True) as c:
            for name in AUDIT_TABLES:
                c.execute(f"DELETE FROM {slot.table(name)}")  # noqa: S608 - our names
            audit.tracking.restart(c, AUDIT)
        rebuilt.close()

        unwitnessed = {**configured, "VERDICT_WITNESS_QUORUM": "0"}
        with serving(settings, tmp_path / "after.log", **unwitnessed) as served:
            settle(served, random_votes(served, 12, seed=4))
            deadline = time.monotonic() + 20
            with served.http() as http:
                while True:
                    shown = http.get("/v1/audit/witnesses").json()["witnesses"][0]
                    if (shown["last_refusal"] or {}).get("status") == 422:
                        break
                    assert time.monotonic() < deadline, f"no refusal shown: {shown}"
                    time.sleep(0.1)
            listed = _checkpoints(served)
            assert listed and all(c["cosignatures"] == [] for c in listed if c["size"] > witnessed)

            code, out = verify(served.url, "--no-state", "--witness", witness.verifier_key)
            assert code == 1 and "QUORUM NOT MET" in verdict_line(out), out

            code, out = verify(served.url, "--state", str(state))
            assert code == 1 and "FORK" in verdict_line(out), out

            time.sleep(PROMISE_SECONDS + 1)  # the promise is due
            code, out = verify(served.url, "--receipt", str(receipt), "--no-state")
            assert code == 1 and "BROKEN PROMISE" in verdict_line(out), out
