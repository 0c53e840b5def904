#!/usr/bin/env python3
"""The ceiling of scripts/bench/bench.py's catalog-size section: the ledger's own HTTP stack
answering a well-formed vote with no database at all, so that "ledger ÷ ceiling" says how much
of the vote's cost is the store rather than the protocol, the middleware and the vote lane.

    python scripts/bench/ceiling.py --host 127.0.0.1 --port N   # CEILING_VOTER_SECRET=hex

It serves with `verdict serve`'s uvicorn options (api/server/cli.server_options) an app with
`create_app`'s middleware and error mapping (api/app.install_middleware) and its vote route and
lane, calling the one vote use case (api/voting/votes.Voting: choice checked, rate limit,
own-writes) over a ledger that stores nothing and answers each vote as cast at the next
position, its receipt sealed with a zero leaf hash and no promise. Voter tokens verify as the
ledger's do (HMAC), with a secret from the environment the bench mints them with. It is a bench
script only: nothing in api/ knows of it. `GET /v1/tools/{slug}` answers a fixed document, for
the bench's readiness poll and reader."""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import uvicorn
from eventsourcing.persistence import Notification
from fastapi import FastAPI, Response

from api.app import install_middleware
from api.own_writes import OwnWrites
from api.routes import writes
from api.server.cli import server_options
from api.voting.credentials import Credentials
from api.voting.ratelimit import Rate, RateLimiter
from api.voting.registrations import Registrations
from api.voting.votes import Voting
from domain.application import Ledger
from domain.receipts import Seal, VoteReceipt
from domain.settings import Settings

SECRET_ENV = "CEILING_VOTER_SECRET"  # noqa: S105 - the variable's name, not a secret
TOOL_DOC = b'{"slug":"ceiling","name":"No database","community":{"ship":0,"skip":0}}'


class MemoryCredentials(Credentials):
    """Voter tokens as the ledger makes and checks them, with the secret held in memory."""

    def __init__(self, secret: bytes) -> None:  # no recorder: nothing is stored
        self._secret = secret

    def _voter_secret(self) -> bytes:
        return self._secret


@dataclass(frozen=True)
class _NoSeal:
    leaf_hash: bytes = bytes(32)
    promise: str | None = None


class NoLedger:
    """What Voting asks of a ledger with a vote writer, storing nothing."""

    ballots = object()
    """Not None: Voting awaits `vote_in_loop`, as it does with group commit."""

    def __init__(self) -> None:
        self._positions = itertools.count(1)

    async def vote_in_loop(
        self, slug: str, actor: str, choice: str | None, surface: object = None
    ) -> VoteReceipt:
        position = next(self._positions)
        event = Notification(
            id=position,
            originator_id=f"ballot:{slug}:{actor}",  # type: ignore[arg-type]  # never read
            originator_version=1,
            topic="domain.ballot:Ballot.Cast",
            state=b"{}",
        )
        return VoteReceipt("cast", event, choice=cast(Any, choice))


class NoRegistry:
    """Registrations kept nowhere (the bench's voters are minted before the clock starts)."""

    def record(self, voter_id: str, client: str) -> None:
        return None


def seal(events: Sequence[Notification]) -> Mapping[int, Seal]:
    return {event.id: _NoSeal() for event in events}


def ceiling_app(settings: Settings, secret: bytes) -> FastAPI:
    app = FastAPI(
        title="Verdict Ledger vote ceiling",
        telemetry={"tracing": False, "metrics": False, "logs": False},  # as create_app
    )
    install_middleware(app, settings)
    app.include_router(writes.router)

    @app.get("/v1/tools/{slug}")
    def tool(slug: str) -> Response:
        return Response(TOOL_DOC, media_type="application/json")

    credentials = MemoryCredentials(secret)
    app.state.runtime = _Runtime(credentials)
    per_minute = settings.votes_per_minute
    app.state.voting = Voting(
        cast(Ledger, NoLedger()),
        credentials,
        cast(Registrations, NoRegistry()),
        RateLimiter(Rate(per_minute, per_minute)),
        RateLimiter(Rate(per_minute, max(1, per_minute // 5))),
        seal,
        OwnWrites(),
    )
    return app


@dataclass(frozen=True)
class _Runtime:
    credentials: Credentials


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = Settings()
    secret = bytes.fromhex(os.environ[SECRET_ENV])
    uvicorn.run(ceiling_app(settings, secret), **server_options(args.host, args.port, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
