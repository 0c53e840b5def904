"""What a write answers: its outcome and the stored event, so that the writer can be handed the
event's log position, transparency-log leaf hash and the log's signed promise to checkpoint it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, TypeVar

from eventsourcing.persistence import Notification


class Seal(Protocol):
    """What the transparency log says about a stored event, for its receipt
    (projections/audit/sealing.py makes them)."""

    @property
    def leaf_hash(self) -> bytes: ...

    @property
    def promise(self) -> str | None: ...


Sealer = Callable[[Sequence[Notification]], Mapping[int, Seal]]
"""Seals stored events for their receipts, by log position."""


@dataclass(frozen=True)
class Receipt:
    """What a write did, and the stored event it wrote last (None when nothing changed), so
    that its position and transparency-log leaf hash can be handed back to the writer."""

    outcome: str
    event: Notification | None
    seal: Seal | None = field(default=None, kw_only=True)
    """The event's seal when the writer made it (a group commit seals its batch at once)."""

    @property
    def position(self) -> int | None:
        return self.event.id if self.event is not None else None


@dataclass(frozen=True)
class VoteReceipt(Receipt):
    choice: Literal["ship", "skip"] | None


R = TypeVar("R", bound=Receipt)


def sealed(receipt: R, sealer: Sealer) -> R:
    """The receipt with its seal: a group commit sealed its whole batch already (one promise
    signature per chunk); any other write is sealed here, alone."""
    if receipt.seal is not None or receipt.event is None:
        return receipt
    return replace(receipt, seal=sealer([receipt.event])[receipt.event.id])


@dataclass(frozen=True)
class ModerationReceipt:
    """A void or restore of many ballots, stored in one save: one event per ballot, in the
    order the request named the voters."""

    outcome: Literal["voided", "restored"]
    tool: str
    events: tuple[tuple[str, Notification], ...]
    """(voter id, stored event) of each ballot moderated."""
