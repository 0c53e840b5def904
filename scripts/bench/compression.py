#!/usr/bin/env python3
"""What compressing an answer costs and saves (api/middleware/compression.py):

    .venv/bin/python scripts/bench/compression.py [--repeat N]

The answers are made by the real app over the demo data in a temporary SQLite file: the front
page, a tool page, the feed, the stylesheet, and the largest list answer (`/v1/tools`, 100
tools: the demo's six, listed again under other slugs with their four verdicts). For each, and
each coding at the level the middleware uses (and br at two other qualities, for the choice),
the median time to compress it whole over `--repeat` runs and the size it comes to; and the
time of the ETag's digest."""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial

import brotli
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import open_runtime
from api.middleware.compression import BROTLI_QUALITY, compress
from api.middleware.representation import etag
from domain.demo_data import TOOLS
from domain.seeding import seed_demo
from domain.settings import Settings

PATHS = ["/v1/tools?limit=100", "/", "/tools/smollm3", "/feed.xml", "/static/site.css"]


def _ledger(folder: str) -> Settings:
    settings = Settings(database_url=f"sqlite:///{folder}/ledger.db")
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    for i in range(100 - len(TOOLS)):
        tool = TOOLS[i % len(TOOLS)]
        slug = f"{tool.slug}-{i}"
        fields = ("name", "category", "tagline", "description", "pricing")
        runtime.ledger.list_tool(slug, {f: getattr(tool, f) for f in fields}, "editor:bench")
        for v in tool.verdicts:
            runtime.ledger.publish_verdict(
                slug, v.seat, v.reviewer, v.decision, v.text, "editor:bench"
            )
    runtime.close()
    return settings


def _median_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, TestClient(create_app(_ledger(folder))) as c:
        end = c.app.state.runtime.ledger.recorder.max_notification_id()
        c.app.state.runtime.views.wait_for("catalog", end, 30.0)
        print(f"{'answer':24} {'bytes':>8} {'coding':>6} {'bytes':>8} {'ratio':>6} {'ms':>7}")
        for path in PATHS:
            body = c.get(path, headers={"Accept-Encoding": "identity"}).content
            codings: dict[str, Callable[[], bytes]] = {
                "gzip": partial(compress, "gzip", body),
                f"br{BROTLI_QUALITY}": partial(compress, "br", body),
                "br5": partial(brotli.compress, body, quality=5),
                "br11": partial(brotli.compress, body, quality=11),
            }
            for name, work in codings.items():
                size = len(work())
                ms = _median_ms(work, args.repeat if name != "br11" else 5)
                ratio = len(body) / size
                print(f"{path:24} {len(body):8} {name:>6} {size:8} {ratio:6.1f} {ms:7.2f}")
            digest_ms = _median_ms(partial(etag, path.encode(), body, 1), args.repeat)
            print(f"{path:24} {len(body):8} {'etag':>6} {'':8} {'':6} {digest_ms:7.3f}")
            assert gzip.decompress(compress("gzip", body)) == body


if __name__ == "__main__":
    main()
