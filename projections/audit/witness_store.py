"""What the witnesses said about the log's checkpoints, kept beside them in the ledger's database.

`audit_cosignatures` holds every verified cosignature line a witness returned for a checkpoint
size; `audit_witnesses` holds, per witness (by submission URL), the size it last cosigned (or
told us, in a 409, that it had), when, and its last refusal. Like checkpoints these are
history, not derived state: a rebuild of the log never touches them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from projections.audit.log import AuditStore, StoredCheckpoint
from projections.database import Database


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    size: int
    witness: str
    """The witness's verifier key."""
    line: str
    """The signature line, without its final newline."""
    cosigned_at: str


@dataclass(frozen=True, slots=True)
class WitnessState:
    url: str
    verifier_key: str
    last_size: int | None
    """The size it last cosigned (None: we do not know yet)."""
    last_at: str | None
    last_refusal_status: int | None
    last_refusal_body: str | None
    last_refusal_at: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def cosigned_note(checkpoint: StoredCheckpoint, cosignatures: Sequence[StoredCosignature]) -> str:
    """The checkpoint note with its cosignature lines after the log's own signature line."""
    return checkpoint.note + "".join(c.line + "\n" for c in cosignatures)


class WitnessStore:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        self._ddl = [
            "CREATE TABLE IF NOT EXISTS audit_cosignatures (size BIGINT NOT NULL, "
            "witness TEXT NOT NULL, signature_line TEXT NOT NULL, cosigned_at TEXT NOT NULL, "
            "PRIMARY KEY (size, witness))",
            "CREATE TABLE IF NOT EXISTS audit_witnesses (url TEXT PRIMARY KEY, "
            "verifier_key TEXT NOT NULL, last_size BIGINT, last_at TEXT, "
            "last_refusal_status INTEGER, last_refusal_body TEXT, last_refusal_at TEXT)",
        ]

    def create_tables(self) -> None:
        with self.db.transaction(commit=True) as c:
            for statement in self._ddl:
                c.execute(statement)

    # -- writing ----------------------------------------------------------------------------

    def cosigned(self, url: str, witness: str, size: int, line: str) -> None:
        """A verified cosignature of checkpoint `size` by `witness` (its verifier key), and the
        witness's new last size, in one transaction."""
        now = _now()
        with self.db.transaction(commit=True) as c:
            c.execute(
                self.db.sql(
                    "INSERT INTO audit_cosignatures (size, witness, signature_line, cosigned_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (size, witness) DO NOTHING"
                ),
                (size, witness, line.removesuffix("\n"), now),
            )
            self._upsert(c, url, witness, "last_size = ?, last_at = ?", (size, now))

    def told_size(self, url: str, witness: str, size: int) -> None:
        """The witness says (409) the size it last cosigned is `size`."""
        with self.db.transaction(commit=True) as c:
            self._upsert(c, url, witness, "last_size = ?", (size,))

    def refused(self, url: str, witness: str, status: int, body: str) -> None:
        with self.db.transaction(commit=True) as c:
            self._upsert(
                c,
                url,
                witness,
                "last_refusal_status = ?, last_refusal_body = ?, last_refusal_at = ?",
                (status, body, _now()),
            )

    def _upsert(self, c: Any, url: str, witness: str, assign: str, values: tuple[Any, ...]) -> None:
        """Set columns of the witness's row, making the row first if needed (a witness whose
        key changed under the same URL starts again: nothing it said before counts)."""
        c.execute(
            self.db.sql(
                "INSERT INTO audit_witnesses (url, verifier_key) VALUES (?, ?) "
                "ON CONFLICT (url) DO NOTHING"
            ),
            (url, witness),
        )
        c.execute(
            self.db.sql(
                "UPDATE audit_witnesses SET verifier_key = ?, last_size = NULL, last_at = NULL "
                "WHERE url = ? AND verifier_key <> ?"
            ),
            (witness, url, witness),
        )
        c.execute(
            self.db.sql(f"UPDATE audit_witnesses SET {assign} WHERE url = ?"),  # noqa: S608 - `assign` is a literal of this class
            (*values, url),
        )

    # -- reading ----------------------------------------------------------------------------

    def witness(self, url: str, witness: str) -> WitnessState:
        """What we know of the witness at `url` with key `witness` (nothing yet: all None)."""
        rows = self.db.fetch(
            "SELECT url, verifier_key, last_size, last_at, last_refusal_status, "
            "last_refusal_body, last_refusal_at FROM audit_witnesses WHERE url = ?",
            (url,),
        )
        if not rows or rows[0]["verifier_key"] != witness:
            return WitnessState(url, witness, None, None, None, None, None)
        r = rows[0]
        return WitnessState(
            r["url"],
            r["verifier_key"],
            None if r["last_size"] is None else int(r["last_size"]),
            r["last_at"],
            None if r["last_refusal_status"] is None else int(r["last_refusal_status"]),
            r["last_refusal_body"],
            r["last_refusal_at"],
        )

    def cosignatures(
        self, sizes: Collection[int], witnesses: Collection[str] | None = None
    ) -> dict[int, list[StoredCosignature]]:
        """The cosignatures of each of `sizes` (by the given witnesses only, if given), in the
        order they were made."""
        if not sizes or witnesses == []:
            return {}
        sizes = list(sizes)
        where = f"size IN ({', '.join('?' * len(sizes))})"
        params: list[Any] = list(sizes)
        if witnesses is not None:
            where += f" AND witness IN ({', '.join('?' * len(witnesses))})"
            params += list(witnesses)
        rows = self.db.fetch(
            "SELECT size, witness, signature_line, cosigned_at FROM audit_cosignatures "  # noqa: S608 - placeholders only
            f"WHERE {where} ORDER BY cosigned_at, witness",
            params,
        )
        found: dict[int, list[StoredCosignature]] = {}
        for r in rows:
            cosignature = StoredCosignature(
                int(r["size"]), r["witness"], r["signature_line"], r["cosigned_at"]
            )
            found.setdefault(cosignature.size, []).append(cosignature)
        return found

    def newest_quorum_size(self, witnesses: Collection[str], quorum: int) -> int | None:
        """The largest checkpoint size cosigned by at least `quorum` of `witnesses`."""
        if quorum <= 0:
            raise ValueError("a quorum of 0 needs no witnesses: take the latest checkpoint")
        if len(witnesses) < quorum:
            return None
        marks = ", ".join("?" * len(witnesses))
        rows = self.db.fetch(
            f"SELECT size FROM audit_cosignatures WHERE witness IN ({marks}) "  # noqa: S608 - placeholders only
            "GROUP BY size HAVING COUNT(*) >= ? ORDER BY size DESC LIMIT 1",
            (*witnesses, quorum),
        )
        return int(rows[0]["size"]) if rows else None


@dataclass(frozen=True, slots=True)
class Witnessed:
    """A checkpoint and the cosignatures it has from the witnesses that count."""

    checkpoint: StoredCheckpoint
    cosignatures: list[StoredCosignature]

    @property
    def note(self) -> str:
        return cosigned_note(self.checkpoint, self.cosignatures)


def newest_witnessed(
    audit: AuditStore, store: WitnessStore, witnesses: Sequence[str], quorum: int
) -> Witnessed | None:
    """The newest checkpoint cosigned by at least `quorum` of `witnesses` (verifier keys), with
    their cosignatures; with a quorum of 0, simply the newest checkpoint."""
    if quorum > 0:
        size = store.newest_quorum_size(witnesses, quorum)
        checkpoint = audit.checkpoint_covering(size) if size is not None else None
        if checkpoint is None or checkpoint.size != size:
            return None
    else:
        checkpoint = audit.latest_checkpoint()
        if checkpoint is None:
            return None
    found = store.cosignatures([checkpoint.size], witnesses)
    return Witnessed(checkpoint, found.get(checkpoint.size, []))
