"""scripts/bench/ceiling.py: the bench's no-database vote answers through the ledger's own stack
(the same middleware, in the same order, and the vote lane), so ledger ÷ ceiling compares like
with like; and it still refuses what the ledger refuses before any store is asked."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from fastapi.testclient import TestClient

from api.app import create_app
from domain.settings import Settings
from tests.scripts.script_module import load_script

CEILING = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "ceiling.py"
SECRET = bytes(range(32))


def _ceiling() -> ModuleType:
    return load_script("bench/ceiling.py", "ceiling_script")


def _stack(app: object) -> list[str]:
    return [m.cls.__name__ for m in app.user_middleware]  # type: ignore[attr-defined]


def test_ceiling_has_the_ledgers_middleware(tmp_path: Path) -> None:
    """The same middleware classes, in the same order, as create_app's."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    ceiling = _ceiling().ceiling_app(settings, SECRET)
    assert _stack(ceiling) == _stack(create_app(settings))
    assert "VoteLane" in _stack(ceiling)


def test_ceiling_answers_a_vote_and_refuses_a_bad_one(tmp_path: Path) -> None:
    """A verified voter's vote is cast at the next position; a bad choice is a 422 naming the
    field; an unknown token is a 401, as on the ledger."""
    module = _ceiling()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    _, token = module.MemoryCredentials(SECRET).register_voter()
    with TestClient(module.ceiling_app(settings, SECRET)) as client:
        auth = {"authorization": f"Bearer {token}"}
        first = client.put("/v1/tools/any/vote", json={"choice": "ship"}, headers=auth)
        second = client.put("/v1/tools/any/vote", json={"choice": "skip"}, headers=auth)
        bad = client.put("/v1/tools/any/vote", json={"choice": "maybe"}, headers=auth)
        stranger = client.put(
            "/v1/tools/any/vote", json={"choice": "ship"}, headers={"authorization": "Bearer v_x.y"}
        )
    assert first.status_code == 201 and first.json()["receipt"]["position"] == 1
    assert second.json()["receipt"]["position"] == 2
    assert bad.status_code == 422 and bad.json()["field"] == "choice"
    assert stranger.status_code == 401
    assert not (tmp_path / "unused.db").exists()  # no database at all
