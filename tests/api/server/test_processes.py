"""The scale-out processes: `verdict project NAME` resumes from its tracked position, survives
losing its database connections, and exits 0 on SIGTERM; `verdict serve --workers N` on
PostgreSQL leaves the projections to those processes and adds up every worker's metrics."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from api.bootstrap import open_runtime
from api.server.cli import main
from domain.settings import Settings
from tests.scripts.drill_harness import ROOT, drill, sample, samples, seeded

pytestmark = pytest.mark.postgres_alone  # several workers and children, pools each

WAIT_SECONDS = 20.0


def eventually(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def project(settings: Settings, name: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VERDICT_DATABASE_URL": settings.database_url}
    env["VERDICT_CREATE_TABLES"] = "false"
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "api.server.cli", "project", name],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise


def test_project_resumes_survives_lost_connections_and_stops_on_sigterm(
    settings: Settings, tmp_path: Path
) -> None:
    """Catch up; (PostgreSQL) every connection of the database is terminated under it, LISTEN
    included, and it follows new votes anyway; SIGTERM exits 0; a restart resumes from the
    tracked position."""
    seeded(settings)
    runtime = open_runtime(settings.model_copy(update={"create_tables": False}))
    log = tmp_path / "project.log"
    recorder, tracking = runtime.ledger.recorder, runtime.views.tracking

    def caught_up() -> bool:
        return tracking.tracked("catalog")[0] == recorder.max_notification_id()

    proc = project(settings, "catalog", log)
    try:
        eventually(caught_up, "first catch-up")
        if settings.is_postgres:
            name = settings.database_url.rsplit("/", 1)[1]
            with psycopg.connect(settings.database_url, autocommit=True) as conn:
                killed = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchone()
                assert killed is not None and killed[0] >= 2  # its pool and its LISTEN

                def listening() -> bool:
                    row = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                        "AND query LIKE 'LISTEN%%'",
                        (name,),
                    ).fetchone()
                    return row is not None and row[0] == 1

                eventually(listening, "LISTEN reopened")
        for n in range(3):
            runtime.ledger.vote("smollm3", f"voter:v_{n}", "ship")
        eventually(caught_up, "catch-up after the connections were lost")
        assert proc.poll() is None
        assert stop(proc) == 0
        position = tracking.tracked("catalog")[0]
        proc = project(settings, "catalog", log)
        eventually(lambda: f"from log position {position}" in log.read_text(), "resume line")
        runtime.ledger.vote("smollm3", "voter:v_late", "skip")
        eventually(caught_up, "catch-up after the restart")
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        runtime.close()
    lines = log.read_text().splitlines()
    assert sum("stopped cleanly" in line for line in lines) == 2
    assert all(line.startswith("{") for line in lines), "every log line is JSON"


def test_project_refuses_unknown_names_and_serve_zero_workers() -> None:
    """argparse names the projections and refuses `--workers 0` (exit 2)."""
    for argv in (["project", "ghost"], ["serve", "--workers", "0"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2


def test_serve_refuses_children_with_several_workers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each of N workers would start its own children: `serve --workers 2` refuses (exit 2)."""
    monkeypatch.setenv("VERDICT_PROJECTIONS", "children")
    assert main(["serve", "--workers", "2"]) == 2
    assert "VERDICT_PROJECTIONS=children takes one worker" in capsys.readouterr().err


@pytest.mark.postgres
@pytest.mark.slow
def test_serve_workers_leave_projections_to_project_processes(
    postgres_url: str, tmp_path: Path
) -> None:
    """`serve --workers 2` on PostgreSQL: a vote is stored but no view moves until
    `verdict project` runs; /metrics from any worker counts the requests of both."""
    store = drill.Store("postgres", postgres_url)
    cluster = drill.Cluster(store, tmp_path, workers=2)
    assert cluster.verdict("migrate").returncode == 0
    try:
        cluster.start_server()
        assert "leave the projections to `verdict project catalog`" in cluster.log("serve", "out")
        assert len(cluster.worker_pids()) == 2
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            token = cluster.register(client)
            vote = client.put(
                "/v1/tools/smollm3/vote",
                json={"choice": "ship"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert vote.status_code == 201
            time.sleep(1.5)
            lagging = client.get("/readyz").json()["projections"]
            assert lagging["catalog"]["position"] == 0
            for name in ("catalog", "audit"):
                cluster.start_projector(name)
            cluster.wait_caught_up()
            before = samples(client.get("/metrics").text)
            for _ in range(40):  # new connections: the kernel spreads them over both workers
                httpx.get(f"{cluster.url}/healthz", timeout=5)
            after = samples(client.get("/metrics").text)
        key = ("verdict_http_requests_total",)
        counted = sample(after, *key, method="GET", route="/healthz", status="200") - sample(
            before, *key, method="GET", route="/healthz", status="200"
        )
        assert counted == 40
        health = [line for line in cluster.log("serve").splitlines() if '"/healthz"' in line]
        pids = {m[1] for line in health if (m := re.search(r'"pid":(\d+)', line))}
        assert len(pids) == 2, "both workers served some of the requests counted"
    finally:
        codes = cluster.stop()
    assert codes == {"catalog": 0, "audit": 0, "serve": 0}


def _projection_children(server_pid: int) -> dict[str, int]:
    """`verdict project NAME` children of the server: name -> pid."""
    found: dict[str, int] = {}
    for task in Path(f"/proc/{server_pid}/task").glob("*/children"):
        for pid in task.read_text().split():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue  # exited while we looked
            if b"project" in argv:
                found[argv[argv.index(b"project") + 1].decode()] = int(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_serve_runs_each_projection_in_a_supervised_child_process(tmp_path: Path) -> None:
    """SQLite, one worker: a `verdict project` child per projection keeps the views up to date
    (a vote shows in the next read, served from the API's polled snapshot); a child killed
    with -9 is started again; SIGTERM stops them all, and a killed server leaves none behind."""
    with drill.Store.fresh("sqlite", tmp_path) as store:
        cluster = drill.Cluster(store, tmp_path, workers=1)
        assert cluster.verdict("migrate").returncode == 0
        cluster.start_server()
        assert cluster.server is not None
        server = cluster.server.pid
        try:
            eventually(lambda: set(_projection_children(server)) == {"catalog", "audit"}, "2")
            first = _projection_children(server)
            with httpx.Client(base_url=cluster.url, timeout=10) as client:
                tools = client.get("/v1/tools").json()["tools"]
                assert len(tools) == 6, "serve took requests before its children caught up"
                token = cluster.register(client)
                auth = {"Authorization": f"Bearer {token}"}

                def ships() -> int:
                    tool = client.get("/v1/tools/smollm3")
                    return int(tool.json()["community"]["ship"]) if tool.is_success else -1

                vote = client.put("/v1/tools/smollm3/vote", json={"choice": "ship"}, headers=auth)
                assert vote.status_code == 201
                eventually(lambda: ships() == 1, "the vote in the catalog", timeout=5)
                os.kill(first["catalog"], signal.SIGKILL)
                eventually(
                    lambda: (
                        _projection_children(server).get("catalog") not in (None, first["catalog"])
                    ),
                    "a new catalog worker",
                )
                vote = client.put("/v1/tools/smollm3/vote", json={"choice": "skip"}, headers=auth)
                assert vote.status_code == 200
                eventually(lambda: ships() == 0, "the change of mind in the catalog")
            children = _projection_children(server)
        finally:
            codes = cluster.stop()
        assert codes["serve"] in (0, -signal.SIGTERM)
        eventually(lambda: not any(map(_alive, children.values())), "workers stopped with serve")
        assert "projection catalog stopped cleanly" in cluster.log("serve")
        cluster.start_server()
        assert cluster.server is not None
        server = cluster.server.pid
        eventually(lambda: len(_projection_children(server)) == 2, "workers of the restart")
        orphans = _projection_children(server)
        os.kill(server, signal.SIGKILL)
        cluster.server.wait(10)
        eventually(lambda: not any(map(_alive, orphans.values())), "no worker outlives a kill -9")
        cluster.stop()
