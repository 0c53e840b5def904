"""The pooled-connection check of `VERDICT_POOL_PRE_PING`, without a round trip when the
connection is quiet.

psycopg_pool's check sends an empty query before every checkout: the vote writer checks a
connection out twice a batch, so that was two of its round trips, each waiting for the server
to be scheduled on a busy machine. A connection the server closed (a restart, a terminated
backend, a crash of the server) always has something to read: the server's FATAL message, or
the end of the stream. An idle connection in good health has nothing. So the check looks at
the socket first, and pings only a connection with something waiting; a restart still costs
no failed request (the pool discards what fails the ping and hands out another). It asks
`poll`, not `select`: `select` refuses a descriptor of 1024 or more, and the pool would take
that for a failed check on every checkout of a process with that many files open."""

from __future__ import annotations

import select
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg_pool import ConnectionPool


def check_if_stirred(conn: psycopg.Connection[Any]) -> None:
    """Raise unless `conn` works: broken or closed at once; pinged when it has unread input."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


def install(datastore: PostgresDatastore) -> None:
    """Put the quiet check in place of the ping on `datastore`'s pool, if it checks at all
    (the pool is made by eventsourcing with the ping; it is not open yet)."""
    pool: Any = datastore.pool
    if datastore.pre_ping:
        pool._check = check_if_stirred  # psycopg_pool keeps its check here
