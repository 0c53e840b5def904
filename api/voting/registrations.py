"""Registration records: who registered from which address in which minute, kept OUTSIDE the
event log for a bounded time, for the moderation queue (api/voting/coordination.py).

Ballot stuffing shows as many voters registered from one address in one minute; the log names
only pseudonymous voters, so this table is the one place that links a voter to an address,
and it holds the address only as HMAC-SHA256(ledger secret, address): a copy of the table
alone cannot be tried against the 2^32 IPv4 addresses. Rows older than the retention time
(`VERDICT_REGISTRATION_RETENTION_DAYS`) are purged, PURGE_BATCH at a time by each
registration (more than one registration adds), so no request does unbounded work and a
quiet ledger is swept by `purge()` at start. `registration_bursts` counts each (address,
minute), so the queue pages the largest bursts from an index instead of grouping the table."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.voting.credentials import Credentials
from projections.database import Database

PURGE_BATCH = 100
"""Expired records one registration deletes at most: bounded work, and more than it adds."""
MAX_BURST_VOTERS = 1_000
"""The most voters read of one burst (a moderation request takes at most as many)."""


@dataclass(frozen=True)
class Burst:
    """Voters registered from one address (its keyed hash) in one minute."""

    client_hash: str
    minute: int
    voters: int

    @property
    def started(self) -> str:
        """The minute's first instant, ISO 8601 (UTC)."""
        return datetime.fromtimestamp(self.minute * 60, UTC).isoformat()

    @property
    def cursor(self) -> str:
        """Where a page of bursts ends: the next page starts after it."""
        return f"{self.voters}.{self.minute}.{self.client_hash}"


def parse_cursor(value: str) -> tuple[int, int, str] | None:
    """A burst's cursor back, or None for anything else (a made-up query string)."""
    voters, _, rest = value.partition(".")
    minute, _, client_hash = rest.partition(".")
    if not (voters.isdigit() and minute.isdigit() and len(voters) < 10 and len(minute) < 15):
        return None
    if len(client_hash) != 64 or not all(c in "0123456789abcdef" for c in client_hash):
        return None
    return int(voters), int(minute), client_hash


class Registrations:
    def __init__(self, credentials: Credentials, retention_days: int) -> None:
        self.db: Database = credentials.db
        self.secrets = credentials.secrets
        self.retention_minutes = retention_days * 24 * 60
        self.now: Callable[[], float] = time.time
        """The clock registrations are stamped by (a test sets its own minute)."""

    def create_table(self) -> None:
        for statement in (
            "CREATE TABLE IF NOT EXISTS voter_registrations (voter_id TEXT PRIMARY KEY, "
            "client_hash TEXT NOT NULL, minute BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS voter_registrations_burst "
            "ON voter_registrations (client_hash, minute, voter_id)",
            "CREATE INDEX IF NOT EXISTS voter_registrations_minute ON voter_registrations (minute)",
            "CREATE TABLE IF NOT EXISTS registration_bursts (client_hash TEXT NOT NULL, "
            "minute BIGINT NOT NULL, voters INTEGER NOT NULL, PRIMARY KEY (client_hash, minute))",
            "CREATE INDEX IF NOT EXISTS registration_bursts_size "
            "ON registration_bursts (voters, minute, client_hash)",
            "CREATE INDEX IF NOT EXISTS registration_bursts_minute ON registration_bursts (minute)",
        ):
            self.db.execute(statement)

    def client_hash(self, client: str) -> str:
        key = self.secrets.get_or_create("registration-address", lambda: secrets.token_bytes(32))
        return hmac.new(key, client.encode(), hashlib.sha256).hexdigest()

    def _minute(self) -> int:
        return int(self.now() // 60)

    def record(self, voter_id: str, client: str) -> str:
        """Keep that `voter_id` registered from `client` this minute (and purge one batch of
        expired records), in one transaction. Returns the voter id."""
        client_hash, minute = self.client_hash(client), self._minute()
        with self.db.transaction(commit=True) as c:
            self._purge(c, minute)
            c.execute(
                self.db.sql(
                    "INSERT INTO voter_registrations (voter_id, client_hash, minute) "
                    "VALUES (?, ?, ?)"
                ),
                (voter_id, client_hash, minute),
            )
            c.execute(
                self.db.sql(
                    "INSERT INTO registration_bursts (client_hash, minute, voters) "
                    "VALUES (?, ?, 1) ON CONFLICT (client_hash, minute) "
                    "DO UPDATE SET voters = registration_bursts.voters + 1"
                ),
                (client_hash, minute),
            )
        return voter_id

    def purge(self) -> int:
        """Delete one batch of expired records; how many registrations went."""
        with self.db.transaction(commit=True) as c:
            return self._purge(c, self._minute())

    def _purge(self, c: Any, minute: int) -> int:
        """One batch of each table's expired rows, in the caller's transaction `c`."""
        cutoff = minute - self.retention_minutes
        c.execute(
            self.db.sql(
                "DELETE FROM voter_registrations WHERE voter_id IN (SELECT voter_id FROM "
                "voter_registrations WHERE minute < ? ORDER BY minute LIMIT ?) RETURNING voter_id"
            ),
            (cutoff, PURGE_BATCH),
        )
        gone = len(c.fetchall())
        c.execute(
            self.db.sql(
                "DELETE FROM registration_bursts WHERE (client_hash, minute) IN (SELECT "
                "client_hash, minute FROM registration_bursts WHERE minute < ? "
                "ORDER BY minute LIMIT ?)"
            ),
            (cutoff, PURGE_BATCH),
        )
        return gone

    def bursts(self, at_least: int, after: str | None, limit: int) -> list[Burst]:
        """Up to `limit` bursts of at least `at_least` voters, largest (then newest) first,
        from after the burst whose cursor is `after`: one range of the size index."""
        since = self._minute() - self.retention_minutes
        where = "voters >= ? AND minute >= ?"
        params: list[Any] = [at_least, since]
        start = parse_cursor(after) if after else None
        if start is not None:
            where += " AND (voters, minute, client_hash) < (?, ?, ?)"
            params.extend(start)
        rows = self.db.fetch(
            f"SELECT client_hash, minute, voters FROM registration_bursts WHERE {where} "  # noqa: S608 - fixed clauses
            f"ORDER BY voters DESC, minute DESC, client_hash DESC LIMIT {int(limit)}",
            params,
        )
        return [Burst(r["client_hash"], int(r["minute"]), int(r["voters"])) for r in rows]

    def voters(self, bursts: Sequence[Burst]) -> dict[Burst, list[str]]:
        """The voter ids of each burst (at most MAX_BURST_VOTERS a burst), by id, in ONE query
        on the (address, minute, voter) index."""
        if not bursts:
            return {}
        # OR of pairs, not `(client_hash, minute) IN (...)`: SQLite scans the whole index for
        # the row-value IN, and seeks it once per pair for the OR.
        pairs = " OR ".join(["(client_hash = ? AND minute = ?)"] * len(bursts))
        rows = self.db.fetch(
            "SELECT client_hash, minute, voter_id FROM voter_registrations "  # noqa: S608 - placeholders only
            f"WHERE {pairs} ORDER BY client_hash, minute, voter_id",
            [value for b in bursts for value in (b.client_hash, b.minute)],
        )
        found: dict[Burst, list[str]] = {b: [] for b in bursts}
        by_key = {(b.client_hash, b.minute): b for b in bursts}
        for r in rows:
            ids = found[by_key[(r["client_hash"], int(r["minute"]))]]
            if len(ids) < MAX_BURST_VOTERS:
                ids.append(r["voter_id"])
        return found
