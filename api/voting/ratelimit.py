"""Token-bucket rate limits, per key (client address, voter), in this process.

Each worker limits on its own, so N workers allow up to N times the rate; docs/ say so. Buckets
idle for longer than a refill are dropped, so memory follows the active clients only."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    per_minute: int
    burst: int


class RateLimited(Exception):
    """Raised with the seconds after which a retry will be admitted."""

    type = "rate-limited"
    """The problem+json type slug, as `LedgerError.type`."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited; retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()

    def check(self, key: str) -> None:
        """Take one token for `key`, or raise RateLimited."""
        per_second = self.rate.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(self.rate.burst), now))
            tokens = min(float(self.rate.burst), tokens + (now - stamp) * per_second)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise RateLimited((1.0 - tokens) / per_second)
            self._buckets[key] = (tokens - 1.0, now)
            if now - self._last_sweep > 60:
                self._sweep(now, per_second)

    def _sweep(self, now: float, per_second: float) -> None:
        full = self.rate.burst / per_second
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}
        self._last_sweep = now
