"""What a receipt carries about its event for the transparency log: the event's leaf hash and,
with promises on, the log's signed promise to checkpoint it. Sealed a batch at a time, so that
a group commit of many votes costs one signature per chunk of MAX_ENTRIES, not one per vote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from projections.audit import merkle
from projections.audit.promise import PromiseSigner
from projections.records import LedgerEvent, StoredNotification


@dataclass(frozen=True, slots=True)
class Seal:
    leaf_hash: bytes
    promise: str | None
    """The signed promise note naming this leaf (None: promises are off)."""


class ReceiptSealer:
    def __init__(self, promises: PromiseSigner | None) -> None:
        self.promises = promises

    def seal(self, events: Sequence[StoredNotification]) -> dict[int, Seal]:
        """Each stored event's seal, by log position."""
        hashes = merkle.leaf_hashes(LedgerEvent.from_notification(e).canonical() for e in events)
        positions = [e.id for e in events]
        notes = (
            self.promises.sign(list(zip(positions, hashes, strict=True))) if self.promises else {}
        )
        return {
            position: Seal(leaf, notes.get(position))
            for position, leaf in zip(positions, hashes, strict=True)
        }
