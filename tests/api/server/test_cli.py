"""The `verdict` command, as a person runs it: every command honours VERDICT_DATABASE_URL."""

from __future__ import annotations

import re
import socket
import uuid
from pathlib import Path

import httpx
import pytest

from api.server.cli import main
from domain.settings import Settings
from tests.api.routes.test_reads import PUBLISHED
from tests.conftest import _admin_url
from tests.serving import serving


def test_seed_rebuild_migrate_on_the_configured_store(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """migrate, seed, seed again, rebuild: each says what it did, on SQLite and PostgreSQL."""
    monkeypatch.setenv("VERDICT_DATABASE_URL", settings.database_url)
    assert main(["migrate"]) == 0
    assert main(["seed"]) == 0
    assert main(["seed"]) == 0
    assert main(["rebuild"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "schema is up to date"
    assert out[1] == "demo data: 35 writes"
    assert out[2] == "demo data: already complete"
    assert re.fullmatch(
        r"rebuilt catalog at log position 41 in [0-9.]+ s \(old tables dropped in [0-9.]+ s\)",
        out[3],
    ), out[3]


def exercise_over_http(base: str, editor_key: str) -> None:
    """A voter votes and reads their own write; an editor amends a verdict; plain HTTP only."""
    with httpx.Client(base_url=base, timeout=5) as http:
        voter = http.post("/v1/voters").json()
        auth = {"Authorization": f"Bearer {voter['token']}"}
        vote = http.put("/v1/tools/smollm3/vote", json={"choice": "ship"}, headers=auth)
        assert vote.status_code == 201
        position = vote.json()["receipt"]["position"]
        tool = http.get("/v1/tools/smollm3", params={"min_position": position}).json()
        assert tool["community"] == {"ship": 1, "skip": 0, "total": 1, "ship_pct": 100, "voided": 0}
        assert tool["as_of"]["position"] >= position
        editor = {"Authorization": f"Bearer {editor_key}"}
        amended = http.put(
            "/v1/tools/smollm3/verdicts/buyer",
            json={
                "reviewer": "Buyer",
                "decision": "ship",
                "text": "Hub pull.",
                "reason": "rethink",
            },
            headers=editor,
        )
        assert amended.status_code == 200
        at = amended.json()["receipt"]["position"]
        tool = http.get("/v1/tools/smollm3", params={"min_position": at}).json()
        assert tool["panel"]["ship_pct"] == 100


@pytest.mark.slow
def test_serve_seeds_on_first_start_and_prints_the_url(tmp_path: Path) -> None:
    """`verdict serve` on an empty SQLite file: seeds, prints its URL and an editor key, serves
    the six tools with their published figures; a voter and an editor then work over HTTP."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    log = tmp_path / "serve.log"
    with serving(settings, log) as served:
        lines = log.read_text().splitlines()
        where = settings.sqlite_path.resolve()
        assert (
            lines[0]
            == f"first start: created a new ledger at {where} and loaded the demo data (41 events)"
        )
        assert lines[1].startswith("editor key")
        assert lines[2] == served.editor_key and lines[2].startswith("vle_")
        assert f"serving at {served.url}" in lines[3]
        body = httpx.get(f"{served.url}/v1/tools", timeout=5).json()
        assert {t["slug"]: t["panel"]["ship_pct"] for t in body["tools"]} == PUBLISHED
        exercise_over_http(served.url, served.editor_key)


def test_keys_create_list_revoke_and_a_reused_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keys list` shows name, role, created and revoked; creating a name that was ever used is
    one clear line on stderr and exit status 1, not a traceback."""
    monkeypatch.setenv("VERDICT_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    assert main(["keys", "create", "--name", "ann"]) == 0
    assert main(["keys", "revoke", "ann"]) == 0
    capsys.readouterr()
    assert main(["keys", "create", "--name", "ann"]) == 1
    refused = capsys.readouterr()
    assert "vle_" not in refused.out
    assert refused.err.startswith("verdict: ") and "revoked" in refused.err
    assert len(refused.err.splitlines()) == 1 and "Traceback" not in refused.err
    assert main(["keys", "create", "--name", "bob"]) == 0
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "role", "created", "revoked"]
    ann, bob = (line.split() for line in lines[1:])
    assert ann[:2] == ["ann", "editor"] and ann[3] != "-"
    assert bob[:2] == ["bob", "editor"] and bob[3] == "-"


def one_error_line(err: str) -> str:
    """The single line an ordinary mistake prints: `verdict: ...`, no traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("verdict: "), err
    return lines[0]


def test_export_to_a_directory_is_one_line_and_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The path names a folder: say so, write nothing."""
    monkeypatch.setenv("VERDICT_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    assert main(["export", str(tmp_path)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert str(tmp_path) in line and "directory" in line.lower()


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite//no-slashes.db", ""])
def test_a_bad_database_url_is_one_line_and_status_1(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The setting is named, with what it must look like."""
    monkeypatch.setenv("VERDICT_DATABASE_URL", url)
    assert main(["keys", "list"]) == 1
    assert "VERDICT_DATABASE_URL" in one_error_line(capsys.readouterr().err)


@pytest.mark.postgres
def test_a_missing_postgres_database_is_named_with_the_servers_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not "couldn't get a connection after 5.00 sec": the database, the server, and why."""
    name = f"verdict_missing_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("VERDICT_DATABASE_URL", _admin_url(name))
    assert main(["keys", "list"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert name in line and "127.0.0.1:5432" in line and "does not exist" in line


def test_serve_on_a_taken_port_says_so_before_anything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No "serving at" line, no ledger made: the port is taken, and --port chooses another."""
    monkeypatch.setenv("VERDICT_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert "serving at" not in out and "first start" not in out
    line = one_error_line(err)
    assert f"127.0.0.1:{port}" in line and "taken" in line and "--port" in line
    assert not (tmp_path / "ledger.db").exists()


def test_a_mistyped_sqlite_folder_is_refused_not_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path whose folder does not exist is most likely a typo: no new ledger (and no new
    editor key) appears there; the folder is named. Only the default folder, var/, is made."""
    typo = tmp_path / "ledgr" / "ledger.db"
    monkeypatch.setenv("VERDICT_DATABASE_URL", f"sqlite:///{typo}")
    assert main(["keys", "list"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert str(typo.parent) in line and "does not exist" in line
    assert not typo.parent.exists()
