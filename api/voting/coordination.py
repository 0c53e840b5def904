"""Ballots that look coordinated, for the moderation queue (/editor/moderation): voters
registered from one address in one minute (api/voting/registrations.py) who voted the same
way on the same tool, and whose ballots are not voided yet.

Work per page is bounded, whatever the length of the log: at most SCAN_BURSTS bursts of at
least MIN_GROUP voters, largest first, from one range of the bursts' size index; each burst's
voters (at most MAX_BURST_VOTERS) from the registrations' (address, minute) index; their
ballots on the listed tools by id, from the event store's primary key. Pages follow the
bursts, so groups come largest first within a page and, across pages, in the order of their
bursts (a burst's largest group is at most its size)."""

from __future__ import annotations

from dataclasses import dataclass

from api.voting.registrations import Burst, Registrations
from domain.application import VOTER, Ledger

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
    """One page of the queue, from after the burst cursor `after` (None: the largest)."""
    bursts = registry.bursts(MIN_GROUP, after, SCAN_BURSTS + 1)
    groups: list[Group] = []
    weighed = 0
    for burst in bursts[:SCAN_BURSTS]:
        weighed += 1
        groups.extend(_groups_of(burst, registry.voters(burst), ledger, tools))
        if len(groups) >= PAGE_GROUPS:
            break
    more = len(bursts) > weighed
    groups.sort(key=lambda g: (-len(g.voters), -g.burst.minute, g.tool, g.choice))
    return QueuePage(groups, bursts[weighed - 1].cursor if more else None)


def _groups_of(burst: Burst, voters: list[str], ledger: Ledger, tools: list[str]) -> list[Group]:
    agreeing: dict[tuple[str, str], list[str]] = {}
    for ballot in ledger.find_ballots(tools, [VOTER + v for v in voters]):
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
