"""The vote use case: the one thing every entrance calls to vote, whether the API route
(api/routes/writes.py), the vote lane (api/voting/lane.py) or the page form (api/site/pages.py).

Two entrances with their own copies of these rules drift apart, so they live here once: a bad
choice is refused before anything changes; a visitor without an identity is registered here (at
the rate allowed per client address, and its registration recorded for the moderation queue)
when the entrance does that, but has nothing to retract;
every vote counts against its voter's rate; the ledger then decides and stores it. Refusals are
the named errors (`LedgerError`, `RateLimited`) that api/problems.py maps, for every entrance."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from api.own_writes import OwnWrites
from api.voting.credentials import Credentials, Principal
from api.voting.ratelimit import RateLimiter
from api.voting.registrations import Registrations
from domain import rules
from domain.application import Ledger
from domain.errors import UnknownBallot
from domain.receipts import Sealer, VoteReceipt, sealed
from domain.rules import Surface


@dataclass(frozen=True)
class Voted:
    receipt: VoteReceipt
    voter: Principal
    token: str | None = None
    """The bearer token of a voter this vote registered, for the entrance to hand over."""


class Voting:
    def __init__(
        self,
        ledger: Ledger,
        credentials: Credentials,
        registry: Registrations,
        registrations: RateLimiter,
        votes: RateLimiter,
        sealer: Sealer,
        own_writes: OwnWrites,
    ) -> None:
        self.ledger = ledger
        self.own_writes = own_writes
        """Where each client's newest vote is remembered, so that its next read shows it."""
        self.sealer = sealer
        """Seals a receipt the vote writer has not (a vote written alone)."""
        self.credentials = credentials
        self.registry = registry
        """Where each registration's address (hashed) and minute are kept, for moderators."""
        self.registrations = registrations
        """Per client address."""
        self.votes = votes
        """Per voter."""

    def register(self, client: str) -> tuple[Principal, str]:
        """A new pseudonymous voter and its bearer token, within the client's registration
        rate; its registration is recorded (address hashed) for the moderation queue. Blocking:
        call it from a thread."""
        self.registrations.check(client)
        voter_id, token = self.credentials.register_voter()
        self.registry.record(voter_id, client)
        return Principal("voter", voter_id), token

    async def vote(
        self,
        slug: str,
        choice: str | None,
        voter: Principal | None,
        client: str = "unknown",
        *,
        surface: Surface,
    ) -> Voted:
        """Cast or change a vote (`choice`), or retract it (None), for `voter`, or for a new
        voter registered for `client` when there is none yet; each entrance names its
        `surface`, which a first vote records. A vote waits for its group
        commit without holding a thread; without group commit the blocking write runs in the
        thread pool like any other."""
        if choice is not None:
            rules.decision(choice, "choice")
        token = None
        if voter is None:
            if choice is None:
                raise UnknownBallot(slug)
            registered = await run_in_threadpool(self.register, client)
            voter, token = registered
        self.votes.check(voter.name)
        if self.ledger.ballots is None:
            receipt = await run_in_threadpool(self.ledger.vote, slug, voter.actor, choice, surface)
        else:
            receipt = await self.ledger.vote_in_loop(slug, voter.actor, choice, surface)
        self.own_writes.wrote(client, receipt.position)
        return Voted(sealed(receipt, self.sealer), voter, token)
