"""The vote writer seals each stored batch itself, on SQLite and PostgreSQL: one call per batch
and one promise signature per 64 votes (not one per vote), each vote's receipt carrying the
promise that names its own position and leaf hash."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from eventsourcing.persistence import Notification

from domain.application import Ledger
from domain.persistence.group_commit import Vote, _Vote
from domain.receipts import Seal
from domain.settings import Settings
from projections.audit import merkle
from projections.audit.promise import PromiseSigner, open_promise
from projections.audit.sealing import ReceiptSealer
from projections.audit.signed_note import generate_signer
from projections.records import LedgerEvent
from tests.builders import list_tools


def test_a_batch_is_sealed_once_with_a_promise_per_64_votes(settings: Settings) -> None:
    """100 votes in one batch: the sealer is called once with the 100 stored events; the
    receipts carry 2 distinct promises, each naming its voters' own lines."""
    ledger = Ledger(settings)
    try:
        assert ledger.ballots is not None
        list_tools(ledger, "alpha")
        signer, _ = generate_signer(settings.log_origin)
        sealer = ReceiptSealer(PromiseSigner(signer, settings.log_origin, timedelta(seconds=10)))
        calls: list[int] = []

        def seal(events: Sequence[Notification]) -> Mapping[int, Seal]:
            calls.append(len(events))
            return sealer.seal(events)

        ledger.ballots.sealer = seal
        batch = [_Vote(Vote("alpha", f"voter:v{n}", "ship")) for n in range(100)]
        ledger.ballots._commit(batch)
        receipts = [vote.done.result(timeout=5) for vote in batch]
        assert calls == [100]
        assert len({r.seal.promise for r in receipts if r.seal is not None}) == 2
        for receipt in receipts:
            assert receipt.event is not None and receipt.seal is not None
            leaf = merkle.leaf_hash(LedgerEvent.from_notification(receipt.event).canonical())
            assert receipt.seal.leaf_hash == leaf
            assert receipt.seal.promise is not None
            promise = open_promise(receipt.seal.promise, signer.verifier_key)
            assert promise.leaf_hash(receipt.event.id) == leaf
    finally:
        ledger.close()


def test_without_a_sealer_receipts_are_left_to_the_caller(settings: Settings) -> None:
    """No sealer set (a ledger used outside the API): receipts carry no seal."""
    ledger = Ledger(settings)
    try:
        assert ledger.ballots is not None
        list_tools(ledger, "alpha")
        batch = [_Vote(Vote("alpha", "voter:v", "ship"))]
        ledger.ballots._commit(batch)
        assert batch[0].done.result(timeout=5).seal is None
    finally:
        ledger.close()
