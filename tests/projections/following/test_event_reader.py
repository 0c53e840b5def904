"""The direct event reader returns exactly what eventsourcing's own reader returns, on SQLite
and PostgreSQL (it reads eventsourcing's table, so a library upgrade that moves it must fail)."""

from __future__ import annotations

from domain.application import Ledger
from projections.following.event_reader import EventReader
from projections.records import LedgerEvent
from tests.builders import EDITOR, list_tools


def test_direct_reads_equal_the_librarys_notifications(ledger: Ledger) -> None:
    """Same events, same order, same fields, page by page, including PostgreSQL's id gaps."""
    list_tools(ledger, "alpha", "beta")
    ledger.publish_verdict("alpha", "builder", "B", "ship", "Fine ✓ 好", EDITOR)
    for i in range(25):
        ledger.vote("alpha" if i % 2 else "beta", f"voter:{i % 7}", "ship" if i % 3 else "skip")
    expected = [
        LedgerEvent.from_notification(n) for n in ledger.recorder.select_notifications(1, 1000)
    ]
    reader, got, after = EventReader(ledger.recorder), [], 0
    while page := reader.page(after, 4):
        got += page
        after = page[-1].position
    assert got == expected
    assert got and got[-1].position == ledger.recorder.max_notification_id()
    assert reader.page(after, 4) == []
