#!/usr/bin/env python3
"""How long the tool page's "Check this score" (api/site/static/check.js) takes in Chromium as
a tool's ballots grow: a ledger started as a person starts it (SQLite), N new ballots cast on
one tool over HTTP, then the check clicked and timed until its ✓.

    python scripts/bench/check_browser.py [--ballots 100,1000,5000]

Prints, per N, the leaves checked, the seconds from click to ✓, and the mean time of one
`/v1/audit/leaves` request for a page of 64 scattered leaves (the server's share)."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import bench
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
SLUG = bench.SLUGS[0]


def _json(base: str, path: str, body: bytes | None = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1
        base + path, data=body, method="PUT" if body else "GET", headers=headers
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - 127.0.0.1
        return json.loads(answer.read())


def settled(base: str, position: int) -> None:
    """Until a signed checkpoint covers `position` (the check pins itself to the newest)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        note = urllib.request.urlopen(f"{base}/v1/audit/checkpoint", timeout=5).read()  # noqa: S310 - 127.0.0.1
        size = int(note.split(b"\n")[1])
        leaf = _json(base, f"/v1/audit/proofs/inclusion?position={position}&size={size}")
        if leaf.get("leaf_index", size) < size:
            return
        time.sleep(0.1)
    raise RuntimeError(f"no checkpoint covered position {position} in 60 s")


def measure(ballots: int, run_dir: Path) -> dict[str, Any]:
    url = f"sqlite:///{run_dir}/ledger-{ballots}.db"
    voters = bench.mint_voters(url, ballots)
    command = bench.ledger_command(url, group_commit=True, workers=1)
    with bench.serve(f"check-{ballots}", command, run_dir) as server:
        base = f"http://127.0.0.1:{server.port}"
        position = 0
        for n, (_, token) in enumerate(voters):
            choice = b'{"choice":"ship"}' if n % 3 else b'{"choice":"skip"}'
            position = _json(base, f"/v1/tools/{SLUG}/vote", choice, token)["receipt"]["position"]
        time.sleep(0.5)
        settled(base, position)
        proof = _json(base, f"/v1/tools/{SLUG}/score-proof")
        indexes = [b["leaf_index"] for b in proof["community"]["ballots"]]
        page = "&".join(f"index={i}" for i in indexes[:: max(1, len(indexes) // 64)][:64])
        started = time.monotonic()
        for _ in range(10):
            _json(base, f"/v1/audit/leaves?{page}")
        leaves_ms = (time.monotonic() - started) / 10 * 1000
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                tab = browser.new_page()
                tab.goto(f"{base}/tools/{SLUG}")
                started = time.monotonic()
                tab.get_by_role("button", name="Check this score").click()
                expect(tab.locator("#check-result")).to_contain_text(
                    "Verified in your browser", timeout=600_000
                )
                seconds = time.monotonic() - started
            finally:
                browser.close()
    leaves = len(indexes) + len(proof["panel"]["verdicts"]) + len(proof["community"]["voids"])
    return {"ballots": ballots, "leaves": leaves, "check_s": seconds, "leaves_page_ms": leaves_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ballots", default="100,1000,5000", help="comma-separated N")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for n in (int(x) for x in args.ballots.split(",")):
            row = measure(n, Path(folder))
            print(
                f"{row['ballots']:>6} ballots  {row['leaves']:>6} leaves  "
                f"check {row['check_s']:6.2f} s  /v1/audit/leaves (64) "
                f"{row['leaves_page_ms']:5.0f} ms"
            )


if __name__ == "__main__":
    main()
