"""The garbage collector's settings for long-running work: serving, and rebuilding views.

CPython's cyclic collector scans every tracked object it has not frozen; a full scan walks the
whole start-up heap (imports, settings, pools), and it runs more often the more objects survive
a young collection. Serving and replaying both keep a steady trickle of survivors (request state,
a page of events), so both freeze what start-up built and collect young objects less often; a
replay, which makes next to no cycles, also pauses the collector while it runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

GC_YOUNG_THRESHOLD = 20_000
"""Allocations between young-generation collections (CPython's default is 700)."""


def settle_garbage_collector() -> None:
    """Move everything alive now out of the collector's sight (gc.freeze) and collect young
    objects less often. Cycles made later are still collected; frozen objects never are, which
    is what start-up objects need."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a replay runs, then as it was (on, unless the
    caller had turned it off). A replay makes next to no garbage cycles (a collection after
    150,000 events at 5,000 tools found 70 objects), and at catalog size the collector's scans
    of what the folds hold were ~12 % of the rebuild's CPU time (`verdict rebuild` of
    scripts/bench/replay.py, same window)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
