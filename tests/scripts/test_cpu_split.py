"""scripts/bench/cpu_split.py: a tiny vote load on the demo ledger, split by process and thread."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.scripts.test_bench import _run


@pytest.mark.slow
def test_a_tiny_run_splits_the_cpu_by_process_and_thread(tmp_path: Path) -> None:
    """The API process (its main thread among its threads) and one `project NAME` child per
    projection each spent CPU on the votes, and the parts add up to no more than the whole."""
    out = tmp_path / "split.json"
    args = ["--ledger", "demo", "--duration", "2", "--warmup", "0.5", "--concurrency", "8"]
    printed = _run("cpu_split.py", *args, "--json", str(out), timeout=300)
    assert "µs of server CPU a vote" in printed
    figures = json.loads(out.read_text())
    assert figures["votes_per_s"] > 0
    split = figures["us_per_vote"]
    names = {process.split(" (")[0] for process in split}
    assert names == {"api", "project catalog", "project audit"}
    (api,) = (threads for process, threads in split.items() if process.startswith("api "))
    pid = next(p for p in split if p.startswith("api ")).split("(")[1].rstrip(")")
    assert pid in api and api[pid] > 0, "the event loop's thread spent CPU on the votes"
    assert all(sum(threads.values()) > 0 for threads in split.values())
    total = sum(us for threads in split.values() for us in threads.values())
    assert total <= figures["server_cpu_us_per_vote"] * 1.2 + 50
