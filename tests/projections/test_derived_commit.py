"""Views commit without waiting for the disk (Database.derived_commit), and nothing else does:
the setting holds for that one transaction, on both stores, committed or rolled back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.application import Ledger
from domain.settings import Settings
from projections.database import Database


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    ledger = Ledger(settings)
    yield Database(ledger.recorder)
    ledger.close()


def waits_for_the_disk(db: Database, cursor: object) -> bool:
    """Whether a commit on this cursor's connection waits for its fsync."""
    if db.is_postgres:
        cursor.execute("SHOW synchronous_commit")  # type: ignore[attr-defined]  # a DB cursor
        return cursor.fetchone()["synchronous_commit"] != "off"  # type: ignore[attr-defined, no-any-return]
    cursor.execute("PRAGMA synchronous")  # type: ignore[attr-defined]
    return int(cursor.fetchone()[0]) >= 2  # type: ignore[attr-defined]  # FULL or EXTRA


def test_a_derived_commit_skips_the_fsync_and_only_it(db: Database) -> None:
    with db.transaction(commit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS derived_probe (n INTEGER)")
        assert waits_for_the_disk(db, c)
    with db.derived_commit() as c:
        assert not waits_for_the_disk(db, c)
        c.execute("INSERT INTO derived_probe (n) VALUES (1)")
    assert db.fetch_tuples("SELECT n FROM derived_probe") == [(1,)], "it commits"
    with db.transaction(commit=True) as c:
        assert waits_for_the_disk(db, c), "the next transaction waits again"


def test_a_derived_commit_that_fails_rolls_back_and_restores(db: Database) -> None:
    with db.transaction(commit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS derived_probe (n INTEGER)")

    def insert_then_fail() -> None:
        with db.derived_commit() as c:
            c.execute("INSERT INTO derived_probe (n) VALUES (2)")
            raise LookupError("the commit never comes")

    with pytest.raises(LookupError):
        insert_then_fail()
    assert db.fetch_tuples("SELECT n FROM derived_probe") == []
    with db.transaction(commit=True) as c:
        assert waits_for_the_disk(db, c)
