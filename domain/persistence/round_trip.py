"""A PostgreSQL transaction sent in ONE round trip: BEGIN, the statements and COMMIT in one
pipeline, synced once at its end.

psycopg's `conn.transaction()` inside a pipeline syncs as it enters and leaves (BEGIN alone,
then the statements, then COMMIT: three or more round trips), and outside one each statement
waits for its answer. On a busy two-core machine every round trip waits for the server's
process to be scheduled, so the vote writer's two transactions a batch go in one each. The
results of the block's cursors are there to fetch once it has ended. If a statement fails,
the server skips the rest up to the sync, COMMIT included: nothing of the transaction is
stored; it is rolled back before the error is raised, so the pool gets a clean connection.
A read ends with COMMIT too: a ROLLBACK sent as a statement makes psycopg drop its prepared
statements in the middle of a pipeline, out of step with the server's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus


@contextmanager
def one_round_trip(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Statements executed in the block run in one transaction, all sent at the block's end;
    psycopg's errors are raised there."""
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            yield
            conn.execute("COMMIT")
    finally:
        if not conn.broken and conn.info.transaction_status != TransactionStatus.IDLE:
            conn.rollback()
