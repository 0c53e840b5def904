#!/usr/bin/env python3
"""The CRUD baseline of scripts/bench/bench.py: a vote counter with the ledger's route shape and
none of its history, served by uvicorn exactly as `verdict serve` serves the ledger.

    python scripts/bench/crud.py --database-url URL [--host H] [--port P]

`PUT /v1/tools/{slug}/vote {"choice": "ship"|"skip"}` runs one
`UPDATE tallies SET ship = ship + 1 WHERE slug = ?` in its own committed transaction and answers
once it is durable; `GET /v1/tools/{slug}` reads the counts. It is what a plain CRUD service
would do: no ballots (a change of mind is counted again), no events, no audit log; routes are
sync `def`s run in FastAPI's thread pool, like the ledger's. Same backends and durability
settings as the ledger: SQLite in WAL mode with SQLite's default synchronous=FULL (one writer
at a time, as eventsourcing's SQLite datastore does), or PostgreSQL through a connection pool
as large as the ledger's (5 + 10 overflow)."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, HTTPException
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

SLUGS = (
    "claude-files-api",
    "llama-4-compact-12b",
    "llama-4-scout-quantized",
    "smollm3",
    "claude-haiku-open-weights",
    "smolvlm2-turbo",
)
"""The six demo tools (domain/demo_data.py), repeated so this app imports nothing of the ledger."""
DATABASE_URL_ENV = "BENCH_CRUD_DATABASE_URL"


class VoteCast(BaseModel):
    choice: Literal["ship", "skip"]


class Store:
    """`add(slug, column)` commits one increment; `counts(slug)` reads one row."""

    def add(self, slug: str, column: str) -> bool:
        raise NotImplementedError

    def counts(self, slug: str) -> tuple[int, int] | None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SQLiteStore(Store):
    """One writer connection behind a lock (SQLite admits one writer; queueing in Python is
    cheaper than its busy-wait), one reader connection per thread (WAL lets them read)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer = self._connect()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._writer.execute(
            "CREATE TABLE IF NOT EXISTS tallies (slug TEXT PRIMARY KEY, "
            "ship INTEGER NOT NULL DEFAULT 0, skip INTEGER NOT NULL DEFAULT 0)"
        )
        self._writer.executemany(
            "INSERT INTO tallies (slug) VALUES (?) ON CONFLICT DO NOTHING", [(s,) for s in SLUGS]
        )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)

    def add(self, slug: str, column: str) -> bool:
        with self._lock:
            cursor = self._writer.execute(
                f"UPDATE tallies SET {column} = {column} + 1 WHERE slug = ?",  # noqa: S608 - column is ship|skip
                (slug,),
            )
        return cursor.rowcount == 1

    def counts(self, slug: str) -> tuple[int, int] | None:
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = self._connect()
        row = reader.execute("SELECT ship, skip FROM tallies WHERE slug = ?", (slug,)).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def close(self) -> None:
        self._writer.close()


class PostgresStore(Store):
    """Autocommit connections from a pool: each UPDATE is its own durable transaction."""

    def __init__(self, url: str) -> None:
        self.pool = ConnectionPool(url, min_size=5, max_size=15, kwargs={"autocommit": True})
        self.pool.wait()
        with self.pool.connection() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS tallies (slug TEXT PRIMARY KEY, "
                "ship BIGINT NOT NULL DEFAULT 0, skip BIGINT NOT NULL DEFAULT 0)"
            )
            for slug in SLUGS:
                conn.execute(
                    "INSERT INTO tallies (slug) VALUES (%s) ON CONFLICT DO NOTHING", (slug,)
                )

    def add(self, slug: str, column: str) -> bool:
        with self.pool.connection() as conn:
            cursor = conn.execute(
                f"UPDATE tallies SET {column} = {column} + 1 WHERE slug = %s",  # noqa: S608 - column is ship|skip
                (slug,),
            )
            return cursor.rowcount == 1

    def counts(self, slug: str) -> tuple[int, int] | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT ship, skip FROM tallies WHERE slug = %s", (slug,)).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def close(self) -> None:
        self.pool.close()


@contextmanager
def open_store(database_url: str) -> Iterator[Store]:
    store: Store
    if database_url.startswith("sqlite:///"):
        store = SQLiteStore(database_url.removeprefix("sqlite:///"))
    else:
        store = PostgresStore(database_url)
    try:
        yield store
    finally:
        store.close()


def create_app(database_url: str) -> FastAPI:
    """The counter service; the store opens with the app, like the ledger's runtime."""
    state: dict[str, Store] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with open_store(database_url) as store:
            state["store"] = store
            yield

    app = FastAPI(title="CRUD vote counter (bench baseline)", lifespan=lifespan)

    @app.put("/v1/tools/{slug}/vote")
    def put_vote(slug: str, body: VoteCast) -> dict[str, Any]:
        if not state["store"].add(slug, body.choice):
            raise HTTPException(404, f"no tool {slug!r}")
        return {"tool": slug, "choice": body.choice, "outcome": "counted"}

    @app.get("/v1/tools/{slug}")
    def get_tool(slug: str) -> dict[str, Any]:
        found = state["store"].counts(slug)
        if found is None:
            raise HTTPException(404, f"no tool {slug!r}")
        ship, skip = found
        return {"slug": slug, "community": {"ship": ship, "skip": skip, "total": ship + skip}}

    return app


def from_environment() -> FastAPI:
    """The app for each of several uvicorn worker processes (they import it by name)."""
    return create_app(os.environ[DATABASE_URL_ENV])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"CRUD counter serving at http://{args.host}:{args.port}", flush=True)
    options: dict[str, Any] = {"host": args.host, "port": args.port, "log_level": "warning"}
    if args.workers == 1:
        uvicorn.run(create_app(args.database_url), **options)
        return 0
    os.environ[DATABASE_URL_ENV] = args.database_url
    here = os.path.dirname(os.path.abspath(__file__))
    uvicorn.run(
        "crud:from_environment", factory=True, workers=args.workers, app_dir=here, **options
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
