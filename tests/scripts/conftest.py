"""Every test here gets a cache folder of its own: verify.py remembers the checkpoints it
verified under `$XDG_CACHE_HOME` by default, one file per origin, and every test ledger has the
same origin (one test's log would be another's fork, and the user's real cache is no place for
test logs)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def own_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache
