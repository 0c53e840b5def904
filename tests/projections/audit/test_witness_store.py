"""The witness store on SQLite and PostgreSQL: for random cosignature histories, the newest
witnessed checkpoint is the largest size cosigned by at least `quorum` of the configured
witnesses (others' cosignatures never count), served with exactly those cosignatures."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import Ledger
from projections.audit.log import AuditStore, StoredCheckpoint
from projections.audit.witness_store import WitnessStore, cosigned_note, newest_witnessed

WITNESSES = ["w0+00000000+AA==", "w1+00000000+AA==", "w2+00000000+AA=="]
"""Stand-ins for verifier keys: the store keeps what it is given (the caller verified it)."""
CONFIGURED = WITNESSES[:2]
SIZES = range(1, 9)

histories = st.lists(st.tuples(st.sampled_from(SIZES), st.sampled_from(WITNESSES)), max_size=20)


@settings(max_examples=30)
@given(history=histories, quorum=st.integers(0, len(CONFIGURED)))
def test_newest_witnessed_obeys_the_quorum(
    ledger: Ledger, history: list[tuple[int, str]], quorum: int
) -> None:
    """newest_witnessed = the largest size with >= quorum configured cosigners (quorum 0: the
    newest checkpoint), with only the configured witnesses' lines."""
    audit, store = AuditStore(ledger.recorder), WitnessStore(ledger.recorder)
    audit.create_tables()
    store.create_tables()
    with audit.db.transaction(commit=True) as c:
        for table in ("audit_checkpoints", "audit_cosignatures", "audit_witnesses"):
            c.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    for size in SIZES:
        audit.add_checkpoint(StoredCheckpoint(size, bytes(32), "t", f"note {size}\n\n— k x\n"))
    for size, witness in history:
        store.cosigned(
            f"http://127.0.0.1:9/{witness[:2]}", witness, size, f"— {witness[:2]} {size}"
        )
    found = newest_witnessed(audit, store, CONFIGURED, quorum)
    cosigners = {s: {w for z, w in history if z == s and w in CONFIGURED} for s in SIZES}
    expected = (
        max(SIZES)
        if quorum == 0
        else max((s for s in SIZES if len(cosigners[s]) >= quorum), default=None)
    )
    if expected is None:
        assert found is None
        return
    assert found is not None and found.checkpoint.size == expected
    assert {c.witness for c in found.cosignatures} == cosigners[expected]
    assert found.note == cosigned_note(found.checkpoint, found.cosignatures)
    assert found.note.count("\n— ") == 1 + len(cosigners[expected])
