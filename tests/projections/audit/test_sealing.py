"""Sealing receipts: the leaf hash a receipt gets is the one the log records for that event, and
each receipt's promise, signed by the log key, names exactly that position and leaf hash."""

from __future__ import annotations

from datetime import timedelta

from domain.application import Ledger
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit.log import AuditProjection, AuditStore
from projections.audit.promise import PromiseSigner, open_promise
from projections.audit.sealing import ReceiptSealer
from projections.audit.signed_note import generate_signer
from projections.following.follower import Follower


def test_seals_match_the_log_and_promises_name_them(ledger: Ledger, settings: Settings) -> None:
    """On each store: seal every stored event in one batch; the log, folded independently,
    records the same leaf hashes, and every promise opens and names its own leaf."""
    seed_demo(ledger)
    origin = settings.log_origin
    signer, _ = generate_signer(origin)
    audit = AuditStore(ledger.recorder)
    audit.create_tables()
    events = ledger.recorder.select_notifications(1, 1000)
    seals = ReceiptSealer(PromiseSigner(signer, origin, timedelta(seconds=10))).seal(events)
    Follower(ledger.recorder, AuditProjection(audit, signer, origin)).catch_up()
    for event in events:
        leaf = audit.leaf_at_position(event.id)
        assert leaf is not None and seals[event.id].leaf_hash == leaf.hash
        note = seals[event.id].promise
        assert note is not None
        promise = open_promise(note, signer.verifier_key)
        assert promise.leaf_hash(event.id) == leaf.hash
    assert len({s.promise for s in seals.values()}) == -(-len(events) // 64)
    assert ReceiptSealer(None).seal(events[:1])[events[0].id].promise is None
