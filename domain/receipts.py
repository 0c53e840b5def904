"""What a write answers: its outcome and the stored event, so that the writer can be handed the
event's log position and transparency-log leaf hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from eventsourcing.persistence import Notification


@dataclass(frozen=True)
class Receipt:
    """What a write did, and the stored event it wrote last (None when nothing changed), so
    that its position and transparency-log leaf hash can be handed back to the writer."""

    outcome: str
    event: Notification | None

    @property
    def position(self) -> int | None:
        return self.event.id if self.event is not None else None


@dataclass(frozen=True)
class VoteReceipt(Receipt):
    choice: Literal["ship", "skip"] | None
