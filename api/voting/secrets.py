"""Secrets the ledger makes for itself once and every worker then shares (the voter-token MAC key,
the checkpoint signing key). Kept in the ledger's own database: whoever can read it can read the
events too, and one store stays the only thing to back up."""

from __future__ import annotations

from collections.abc import Callable

from projections.database import Database


class LedgerSecrets:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, bytes] = {}

    def create_table(self) -> None:
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS ledger_secrets (name TEXT PRIMARY KEY, "
            f"value {self.db.blob} NOT NULL)"
        )

    def get_or_create(self, name: str, make: Callable[[], bytes]) -> bytes:
        """The secret called `name`, made by `make()` the first time; concurrent first calls
        from several workers agree on one value (insert-if-absent, then read)."""
        if name not in self._cache:
            with self.db.transaction(commit=True) as c:
                c.execute(
                    self.db.sql(
                        "INSERT INTO ledger_secrets (name, value) VALUES (?, ?) "
                        "ON CONFLICT (name) DO NOTHING"
                    ),
                    (name, make()),
                )
                c.execute(self.db.sql("SELECT value FROM ledger_secrets WHERE name=?"), (name,))
                self._cache[name] = bytes(c.fetchone()["value"])
        return self._cache[name]
