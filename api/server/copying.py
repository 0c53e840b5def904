"""`verdict copy --to URL`: the ledger moved into another store with its history intact.

Copied is what cannot be derived: the stored events row for row, each with its notification id
(an event's log position is part of its leaf hash, docs/audit.md, so positions must survive,
gaps included); the ledger's secrets (the checkpoint signing key, the voter-token MAC key); the
editor keys; every signed checkpoint. The views are then rebuilt from the copied events, which
also checks every copied checkpoint against the recomputed tree.

Resumable by construction: each batch of events commits in one transaction, and every run first
checks, row for row, that the target holds a prefix of the source, then copies what follows it.
Anything else in the target is refused before a single row is written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from api.bootstrap import open_runtime
from api.server.rebuilding import rebuild_views
from api.voting.credentials import Credentials
from domain.application import Ledger
from domain.settings import Settings
from projections.audit.log import AuditStore, CheckpointMismatch
from projections.audit.witness_store import WitnessStore
from projections.catalog.views import ViewStore
from projections.database import Database

RawEvent = tuple[int, str, int, str, bytes]
"""(position, originator id as 32 hex digits, version, topic, state bytes), as stored."""

BATCH = 10_000
"""Events per transaction on the target."""


@dataclass(frozen=True)
class HistoryTable:
    """A table of rows that are history, not derived from events: copied as they are."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    replace: bool
    """True: the source's row wins (editor keys, which may be revoked meanwhile); False: a row
    the target holds already stays (a checkpoint, once signed, never changes)."""


CHECKPOINTS = HistoryTable("audit_checkpoints", ("size", "root", "at", "note"), ("size",), False)
HISTORY_TABLES = (
    HistoryTable(
        "api_keys", ("name", "role", "key_hash", "created_at", "revoked_at"), ("name",), True
    ),
    CHECKPOINTS,
    HistoryTable(
        "audit_cosignatures",
        ("size", "witness", "signature_line", "cosigned_at"),
        ("size", "witness"),
        False,
    ),
    HistoryTable(
        "audit_witnesses",
        (
            "url",
            "verifier_key",
            "last_size",
            "last_at",
            "last_refusal_status",
            "last_refusal_body",
            "last_refusal_at",
        ),
        ("url",),
        True,
    ),
)


class CopyRefused(Exception):
    """The target holds something that is not a prefix of the source; nothing was written."""


@dataclass(frozen=True)
class Copied:
    held: int
    """Events the target held already (a prefix of the source's)."""
    copied: int
    position: int
    """The last log position in the target."""
    checkpoints: int
    """Checkpoints the source holds (each copied unless the target held it already)."""
    mismatched: tuple[int, ...]
    """Sizes of the copied checkpoints that the rebuilt tree does not reproduce (none, unless
    the source's own log no longer gives its signed trees: `verdict rebuild` says the same)."""


class RawEvents:
    """eventsourcing's event table read and appended to row for row, on either store (its
    9.5 layout, as in projections/following/event_reader.py)."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        self.table: str = recorder.events_table_name  # type: ignore[attr-defined]
        key = "notification_id" if self.db.is_postgres else "rowid"
        hexed = "replace(CAST(originator_id AS TEXT), '-', '')"
        originator = hexed if self.db.is_postgres else "originator_id"
        self._key = key
        self._page = self.db.sql(
            f"SELECT {key}, {originator}, originator_version, topic, state FROM {self.table} "  # noqa: S608 - names from the recorder
            f"WHERE {key} > ? ORDER BY {key} LIMIT ?"
        )

    def page(self, after: int, limit: int) -> list[RawEvent]:
        rows = self.db.fetch_tuples(self._page, (after, limit))
        return [(p, o, v, t, bytes(s)) for p, o, v, t, s in rows]

    def count(self) -> int:
        return int(self.db.fetch_tuples(f"SELECT COUNT(*) FROM {self.table}")[0][0])  # noqa: S608 - the recorder's name

    def append(self, after: int, rows: Sequence[RawEvent]) -> None:
        """Store `rows` with their own positions in one transaction, provided the table still
        ends at `after` (nobody else wrote to it since the prefix was checked)."""
        with self.db.transaction(commit=True) as c:
            if self.db.is_postgres:
                c.execute(f"LOCK TABLE {self.table} IN EXCLUSIVE MODE")
            c.execute(f"SELECT MAX({self._key}) AS last FROM {self.table}")  # noqa: S608 - names from the recorder
            last = c.fetchone()["last"] or 0
            if last != after:
                raise CopyRefused(
                    f"the target's events were written to during the copy (it ends at {last}, "
                    f"not {after}); stop whatever writes to it and run the copy again"
                )
            if self.db.is_postgres:
                columns = "notification_id, originator_id, originator_version, topic, state"
                with c.copy(f"COPY {self.table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                c.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                    (self.table, rows[-1][0]),
                )
            else:
                c.executemany(
                    f"INSERT INTO {self.table} (rowid, originator_id, originator_version, "  # noqa: S608 - the recorder's name
                    "topic, state) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )


def held_prefix(
    source: RawEvents,
    target: RawEvents,
    page_size: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """The last position and the number of the events the target holds, having checked row for
    row that they are the source's first events at the same positions."""
    after, held = 0, 0
    while theirs := target.page(after, page_size):
        ours = source.page(after, len(theirs))
        for mine, other in zip_longest(ours, theirs):
            if mine == other:
                continue
            if mine is None:
                raise CopyRefused(
                    f"the target holds events the source does not have (from position "
                    f"{other[0]}): it is not a copy of this ledger"
                )
            raise CopyRefused(
                f"the target's event at position {other[0]} is not the source's event at "
                f"position {mine[0]}: it holds another log, not a prefix of this one"
            )
        after, held = theirs[-1][0], held + len(theirs)
        if progress is not None:
            progress(len(theirs))
    return after, held


def _rows(db: Database, table: HistoryTable) -> list[tuple[Any, ...]]:
    if not db.has_table(table.name):
        return []
    columns = ", ".join(table.columns)
    rows = db.fetch_tuples(f"SELECT {columns} FROM {table.name}")  # noqa: S608 - names of this module
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]


def _secrets(db: Database) -> dict[str, bytes]:
    rows = db.fetch_tuples("SELECT name, value FROM ledger_secrets")
    return {name: bytes(value) for name, value in rows}


def check_history(source: Database, target: Database, held: int, source_size: int) -> None:
    """Refuse a target whose secrets or checkpoints are not the source's. A target with no
    events and no checkpoints (say, after `verdict migrate`) may hold secrets of its own: they
    signed and authorised nothing yet, so the source's replace them."""
    theirs_checkpoints = {row[0]: row[1] for row in _rows(target, CHECKPOINTS)}
    ours_checkpoints = {row[0]: row[1] for row in _rows(source, CHECKPOINTS)}
    for size, root in sorted(theirs_checkpoints.items()):
        if size > source_size:
            raise CopyRefused(
                f"the target holds a checkpoint of size {size}, beyond this ledger's "
                f"{source_size} events: it holds another log"
            )
        if ours_checkpoints.get(size, root) != root:
            raise CopyRefused(
                f"the target's checkpoint of size {size} signs another tree than this "
                "ledger's of that size: it holds another log"
            )
    if not held and not theirs_checkpoints:
        return
    theirs = _secrets(target)
    for name, value in _secrets(source).items():
        if theirs.get(name, value) != value:
            raise CopyRefused(
                f"the target holds another secret {name!r} than this ledger: it is not a copy of it"
            )


def copy_history(source: Database, target: Database) -> int:
    """The secrets, editor keys and checkpoints, in one transaction; the checkpoints copied."""
    secrets = _secrets(source)
    copied = 0
    with target.transaction(commit=True) as c:
        c.executemany(
            target.sql(
                "INSERT INTO ledger_secrets (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            ),
            list(secrets.items()),
        )
        for table in HISTORY_TABLES:
            rows = _rows(source, table)
            if not rows:
                continue
            updates = [f"{col} = excluded.{col}" for col in table.columns if col not in table.key]
            conflict = f"ON CONFLICT ({', '.join(table.key)}) " + (
                f"DO UPDATE SET {', '.join(updates)}" if table.replace else "DO NOTHING"
            )
            marks = ", ".join("?" * len(table.columns))
            c.executemany(
                target.sql(
                    f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks}) "  # noqa: S608 - names of this module
                    + conflict
                ),
                rows,
            )
            if table is CHECKPOINTS:
                copied = len(rows)
    return copied


def _same_store(a: Settings, b: Settings) -> bool:
    if a.is_postgres or b.is_postgres:
        return a.database_url == b.database_url
    return a.sqlite_path.resolve() == b.sqlite_path.resolve()


def _origin(note: str) -> str:
    return note.split("\n", 1)[0]


def copy_ledger(
    settings: Settings,
    to: Settings,
    *,
    batch: int = BATCH,
    check_bar: Callable[[int], Callable[[int], None]] | None = None,
    events_bar: Callable[[int, int], Callable[[int], None]] | None = None,
    rebuild_bar: Callable[[int], Callable[[int], None]] | None = None,
) -> Copied:
    """Copy the ledger at `settings` into the store at `to` (see the module's docstring).
    `check_bar(held)`, `events_bar(total, held)` and `rebuild_bar(total)` may return a callable
    told the events of each step: of the check of what the target holds, of the copy, of the
    rebuild."""
    if _same_store(settings, to):
        raise CopyRefused("the target is the source's own store")
    source_runtime = open_runtime(settings)
    try:
        latest = source_runtime.audit.latest_checkpoint()
        if latest is not None and _origin(latest.note) != settings.log_origin:
            raise CopyRefused(
                f"this ledger's checkpoints name the origin {_origin(latest.note)!r}, not "
                f"VERDICT_LOG_ORIGIN={settings.log_origin!r}: set it as the service has it"
            )
        target_ledger = Ledger(to.model_copy(update={"create_tables": True}))
        try:
            for store in (
                Credentials(target_ledger.recorder),
                AuditStore(target_ledger.recorder),
                WitnessStore(target_ledger.recorder),
                ViewStore(target_ledger.recorder),
            ):
                store.create_tables()
            source = RawEvents(source_runtime.ledger.recorder)
            target = RawEvents(target_ledger.recorder)
            total = source.count()
            checking = target.count()
            step = check_bar(checking) if check_bar and checking else None
            after, held = held_prefix(source, target, batch, step)
            check_history(source.db, target.db, held, total)
            checkpoints = copy_history(source.db, target.db)
            step = events_bar(total, held) if events_bar else None
            copied = 0
            while rows := source.page(after, batch):
                target.append(after, rows)
                after, copied = rows[-1][0], copied + len(rows)
                if step is not None:
                    step(len(rows))
        finally:
            target_ledger.close()
    finally:
        source_runtime.close()
    target_runtime = open_runtime(to.model_copy(update={"create_tables": False}))
    try:
        step = rebuild_bar(held + copied) if rebuild_bar else None
        try:  # a rebuilt tree is checked against every checkpoint before it serves
            rebuild_views(target_runtime, jobs=1, progress=step)
            bad = tuple(cp.size for cp in target_runtime.audit.mismatched_checkpoints())
        except CheckpointMismatch as error:
            bad = tuple(error.sizes)
    finally:
        target_runtime.close()
    return Copied(held, copied, after, checkpoints, bad)
