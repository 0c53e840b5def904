"""Wake a follower when PostgreSQL says events were stored (LISTEN on eventsourcing's channel).

A dropped LISTEN connection is reopened with backoff; until then the follower still polls, so a
lost connection costs latency, never events (eventsourcing's own subscription stops instead)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg
from psycopg import sql

from projections.following.daemon import DaemonLoop
from projections.following.follower import RetrySchedule

log = logging.getLogger(__name__)


class PostgresWakeup(DaemonLoop):
    def __init__(
        self, conninfo: str, channel: str, wake: Callable[[], None], *, retry: RetrySchedule
    ) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.wake = wake
        self.retry = retry
        super().__init__("pg-listen")

    def _run(self) -> None:
        retry = self.retry
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    retry.reset()
                    self.wake()  # anything stored while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.wake()
            except psycopg.Error as error:
                delay = retry.next()
                log.warning(
                    "LISTEN %s lost (%s); reconnecting in %.1fs", self.channel, error, delay
                )
                self._stop.wait(delay)
