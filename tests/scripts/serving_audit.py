"""What the verifier's tests do to a real `verdict serve` (tests/serving.py): run the verifier,
write votes and editorial changes, and edit the database behind the service's back."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg

from domain.settings import Settings
from tests.scripts.script_module import load_script
from tests.serving import ROOT, START_SECONDS, Served
from tests.serving import serving as _serving

__all__ = ["Served", "serving"]  # the audit tests import these from here too
VERIFY = ROOT / "scripts" / "verify.py"


@contextmanager
def serving(settings: Settings, log: Path, **extra_env: str) -> Iterator[Served]:
    """tests/serving.py's `verdict serve`, its projections followed in threads of the API process
    (VERDICT_PROJECTIONS=threads) instead of two `verdict project` children; ready once they have
    folded the log as it stands, as the children's start waits for. The verifier reads only what
    the API serves, which the same projections fold either way, and the children took 2/3 of a
    start's CPU (7.6 s against 2.5 s, measured); tests/api/server runs the children."""
    env = {"VERDICT_PROJECTIONS": "threads", **extra_env}
    with _serving(settings, log, **env) as served:
        deadline = time.monotonic() + START_SECONDS
        with served.http() as http:
            while True:
                ready = http.get("/readyz").json().get("projections", {})
                if ready and all(p["lag"] == 0 for p in ready.values()):
                    break
                assert time.monotonic() < deadline, f"projections not caught up: {ready}"
                time.sleep(0.05)
        yield served


def load_verifier() -> ModuleType:
    """scripts/verify.py as a module (it is a script, not a package), loaded once."""
    return load_script("verify.py", "verify_script")


def verify(*args: str) -> tuple[int, str]:
    """Run the verifier as an auditor does; its exit code and its whole output."""
    done = subprocess.run(
        [sys.executable, str(VERIFY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def verdict_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("VERDICT: ")]
    assert len(lines) == 1, output
    return lines[0]


SLUGS = ("smollm3", "claude-files-api", "smolvlm2-turbo")
DEMO_EVENTS = 41
"""How many events the demo data of a first start stores."""


def first_vote(served: Served, choice: str) -> dict[str, Any]:
    """A new voter's vote on smollm3 over HTTP (cast: 201); the answer, receipt included."""
    with served.http() as http:
        token = http.post("/v1/voters").json()["token"]
        answer = http.put(
            "/v1/tools/smollm3/vote",
            json={"choice": choice},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def random_votes(served: Served, n: int, voters: int = 5, seed: int = 0) -> int:
    """`n` random votes and retractions by a few voters over HTTP; the last log position."""
    rng = random.Random(seed)
    position = 0
    with served.http() as http:
        tokens = [http.post("/v1/voters").json()["token"] for _ in range(voters)]
        for _ in range(n):
            auth = {"Authorization": f"Bearer {rng.choice(tokens)}"}
            path = f"/v1/tools/{rng.choice(SLUGS)}/vote"
            if rng.random() < 0.2:
                answer = http.delete(path, headers=auth)
            else:
                answer = http.put(path, json={"choice": rng.choice(("ship", "skip"))}, headers=auth)
            assert answer.status_code in (200, 201, 404), answer.text
            if answer.status_code != 404:
                position = answer.json()["receipt"]["position"] or position
    return position


def editorial_changes(served: Served) -> int:
    """Amend a verdict, retract another, delist a tool: every kind of panel event; the last
    log position."""
    editor = {"Authorization": f"Bearer {served.editor_key}"}
    body = {"reviewer": "Buyer", "decision": "ship", "text": "Hub pull.", "reason": "rethink"}
    with served.http() as http:
        writes = [
            http.put("/v1/tools/smollm3/verdicts/buyer", json=body, headers=editor),
            http.request(
                "DELETE",
                "/v1/tools/smolvlm2-turbo/verdicts/skeptic",
                json={"reason": "conflict of interest"},
                headers=editor,
            ),
        ]
        tools = http.get("/v1/tools").json()["tools"]
        delisted = next(t["slug"] for t in tools if t["slug"] not in SLUGS)
        writes.append(
            http.request("DELETE", f"/v1/tools/{delisted}", json={"reason": "gone"}, headers=editor)
        )
    for answer in writes:
        assert answer.status_code == 200, answer.text
    return int(writes[-1].json()["receipt"]["position"])


def settle(served: Served, position: int) -> int:
    """Wait until a signed checkpoint covers log position `position`, and every projection has
    folded it (they run in processes of their own, each at its own pace); the checkpoint's
    size. A test that then edits the store behind the service's back edits settled history."""
    deadline = time.monotonic() + 20
    with served.http() as http:
        while True:
            proof = http.get("/v1/audit/proofs/inclusion", params={"position": position})
            ready = http.get("/readyz").json().get("projections", {})
            folded = all(p["position"] >= position for p in ready.values()) and ready
            if proof.status_code == 200 and folded:
                return int(proof.json()["size"])
            assert time.monotonic() < deadline, f"position {position} was never settled"
            time.sleep(0.05)


# -- editing the event store behind the service's back --------------------------------------------


class EventTable:
    """The eventsourcing table of stored events, on SQLite (rowid = log position) or PostgreSQL
    (notification_id), edited with plain SQL as an intruder would; `run` reaches any table."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.is_postgres:
            self.position, self.table = "notification_id", "ledger_events"
        else:
            self.position, self.table = "rowid", "stored_events"

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """`sql` with `?` placeholders; {table} and {position} name the event table's."""
        sql = sql.format(table=self.table, position=self.position)
        if self.settings.is_postgres:
            with psycopg.connect(self.settings.database_url, autocommit=True) as pg:
                cursor = pg.execute(sql.replace("?", "%s").encode(), params)
                return cursor.fetchall() if cursor.description else []
        with closing(sqlite3.connect(self.settings.sqlite_path, timeout=10)) as db, db:
            return db.execute(sql, params).fetchall()

    def positions(self, topic_suffix: str) -> list[int]:
        rows = self.run(
            "SELECT {position} FROM {table} WHERE topic LIKE ? ORDER BY {position}",
            (f"%{topic_suffix}",),
        )
        return [int(r[0]) for r in rows]

    def state(self, position: int) -> bytes:
        return bytes(self.run("SELECT state FROM {table} WHERE {position} = ?", (position,))[0][0])

    def set_state(self, position: int, state: bytes) -> None:
        self.run("UPDATE {table} SET state = ? WHERE {position} = ?", (state, position))

    def delete(self, position: int) -> None:
        self.run("DELETE FROM {table} WHERE {position} = ?", (position,))
