"""Ballots that look coordinated, for the moderation queue (/editor/moderation): voters
registered from one address in one minute (api/voting/registrations.py) who voted the same
way on the same tool, and whose ballots are not voided yet.

Work per page is bounded, whatever the length of the log: at most SCAN_BURSTS bursts of at
least MIN_GROUP voters, largest first, from one range of the bursts' size index; their voters
(at most MAX_BURST_VOTERS a burst) from the registrations' (address, minute) index; their
ballots on the listed tools by id, from the event store's primary key. Pages follow the
bursts, so groups come largest first within a page and, across pages, in the order of their
bursts (a burst's largest group is at most its size)."""

from __future__ import annotations

from dataclasses import dataclass

from api.voting.registrations import Burst, Registrations
from domain.application import VOTER, Ledger
from domain.ballot import Ballot

MIN_GROUP = 5
"""Fewer voters than this from one address in one minute who agree is a household or an office
behind one address, not a campaign: not shown."""
SCAN_BURSTS = 20
"""Bursts one page weighs at most."""
PAGE_GROUPS = 10
"""A page stops weighing bursts once it holds this many groups."""


@dataclass(frozen=True)
class Group:
    burst: Burst
    tool: str
    choice: str
    voters: tuple[str, ...]
    """Voter ids (without `voter:`), sorted."""

    @property
    def key(self) -> str:
        """Names the group's form on the page: stable while the group stands."""
        return f"void-{self.burst.minute}-{self.burst.client_hash[:12]}-{self.tool}-{self.choice}"


@dataclass(frozen=True)
class QueuePage:
    groups: list[Group]
    next: str | None
    """The cursor the next page starts after, or None when no burst is left."""


def coordinated(
    registry: Registrations, ledger: Ledger, tools: list[str], after: str | None
) -> QueuePage:
    """One page of the queue, from after the burst cursor `after` (None: the largest): the
    bursts in one read, then their voters and ballots in two reads per round (each read is
    a round trip): PAGE_GROUPS bursts first, the rest of SCAN_BURSTS only if the page is not
    full yet."""
    bursts = registry.bursts(MIN_GROUP, after, SCAN_BURSTS + 1)
    groups: list[Group] = []
    weighed = 0
    for start, end in ((0, PAGE_GROUPS), (PAGE_GROUPS, SCAN_BURSTS)):
        if len(groups) >= PAGE_GROUPS:
            break
        voters = registry.voters(bursts[start:end])
        ballots: dict[str, list[Ballot]] = {}
        every = [VOTER + v for ids in voters.values() for v in ids]
        for ballot in ledger.find_ballots(tools, every):
            ballots.setdefault(ballot.voter, []).append(ballot)
        for burst, ids in voters.items():
            weighed += 1
            groups.extend(_groups_of(burst, [b for v in ids for b in ballots.get(VOTER + v, [])]))
            if len(groups) >= PAGE_GROUPS:
                break
    more = len(bursts) > weighed
    groups.sort(key=lambda g: (-len(g.voters), -g.burst.minute, g.tool, g.choice))
    return QueuePage(groups, bursts[weighed - 1].cursor if more else None)


def _groups_of(burst: Burst, ballots: list[Ballot]) -> list[Group]:
    """The burst's ballots that agree (tool, choice), neither voided nor retracted, in groups
    of MIN_GROUP or more."""
    agreeing: dict[tuple[str, str], list[str]] = {}
    for ballot in ballots:
        if ballot.voided or ballot.choice is None:
            continue
        agreeing.setdefault((ballot.tool, ballot.choice), []).append(
            ballot.voter.removeprefix(VOTER)
        )
    return [
        Group(burst, tool, choice, tuple(sorted(ids)))
        for (tool, choice), ids in agreeing.items()
        if len(ids) >= MIN_GROUP
    ]
