"""Domain errors: every refusal the ledger can give, each mapped to one HTTP status in one place.

LedgerError
├── InvalidInput          a field breaks a rule (422); carries the field at fault
├── NotFound              the thing addressed does not exist (404)
│   ├── UnknownTool
│   ├── UnknownSeat
│   ├── UnknownBallot
│   ├── UnknownComparison
│   └── UnknownLeaf       no such entry in the transparency log (yet)
└── Conflict              the request contradicts the current state (409)
    ├── ToolAlreadyListed
    ├── ToolDelisted
    ├── SeatAlreadyPublished
    ├── ComparisonAlreadyPublished
    ├── BallotVoided      a moderator voided this ballot (no vote on it, no second void)
    ├── BallotNotVoided   a restore of a ballot that counts
    └── ConcurrentUpdate  retries ran out under contention
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every refusal; `type` is the stable slug used in problem+json."""

    type = "ledger-error"
    field: str | None = None
    """The request field at fault, where one is (always for InvalidInput)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(LedgerError):
    type = "invalid-input"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field: str | None = field


class NotFound(LedgerError):
    type = "not-found"


class UnknownTool(NotFound):
    type = "unknown-tool"

    def __init__(self, slug: str) -> None:
        super().__init__(f"no tool is listed as {slug!r}")
        self.slug = slug


class UnknownSeat(NotFound):
    type = "unknown-seat"

    def __init__(self, slug: str, seat: str) -> None:
        super().__init__(f"tool {slug!r} has no current verdict in seat {seat!r}")


class UnknownBallot(NotFound):
    type = "unknown-ballot"

    def __init__(self, slug: str) -> None:
        super().__init__(f"this voter has no current vote on {slug!r}")


class UnknownComparison(NotFound):
    type = "unknown-comparison"

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"no comparison of {left!r} and {right!r} is published")


class UnknownLeaf(NotFound):
    type = "unknown-leaf"


class Conflict(LedgerError):
    type = "conflict"


class ToolAlreadyListed(Conflict):
    type = "tool-already-listed"

    def __init__(self, slug: str) -> None:
        super().__init__(f"a tool is already listed as {slug!r}")


class ToolDelisted(Conflict):
    type = "tool-delisted"

    def __init__(self, slug: str) -> None:
        super().__init__(f"tool {slug!r} was delisted and takes no more changes")


class SeatAlreadyPublished(Conflict):
    type = "seat-already-published"

    def __init__(self, slug: str, seat: str) -> None:
        super().__init__(f"seat {seat!r} of {slug!r} already has a verdict; amend it instead")


class ComparisonAlreadyPublished(Conflict):
    type = "comparison-already-published"

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"a comparison of {left!r} and {right!r} is already published")


class BallotVoided(Conflict):
    type = "ballot-voided"

    def __init__(self, slug: str) -> None:
        super().__init__(f"a moderator voided this ballot on {slug!r}; it is not counted")


class BallotNotVoided(Conflict):
    type = "ballot-not-voided"

    def __init__(self, slug: str) -> None:
        super().__init__(f"this ballot on {slug!r} is not voided; there is nothing to restore")


class ConcurrentUpdate(Conflict):
    type = "concurrent-update"
