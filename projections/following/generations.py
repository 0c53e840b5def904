"""Blue/green view tables: each projection keeps its rows in generation-numbered tables
(`view_tools_g2`), readers see the serving generation through plain SQL views of the unnumbered
names (`view_tools`), and a rebuild fills a new generation beside it, then switches.

`view_generations(name, serving, version, building, building_version)` says which generation of
each projection serves (and the fold version it was built with) and which is being built. The
serving generation's position is the projection's `view_tracking` row (`catalog`); a building
one has its own row (`catalog:g3`), so a rebuild killed at any point resumes from where it
committed. The switch is ONE transaction: the serving row takes the building position (never
lower than the one it replaces), the SQL views are redefined over the new tables, and the old
generation is marked retired (`view_retired`). A reader's statement therefore sees the old
generation or the new one, whole, and a position that never goes back.

Retired tables are not dropped in that transaction: on SQLite a DROP walks every page of the
table under the file's one write lock (1.24 s for a 1.5M-event catalog, growing with the log),
and the live vote writer waits through it. The janitor (`sweep`) empties them afterwards in
short transactions of at most SWEEP_ROWS rows, then drops them empty. The process that retired
them sweeps once it has moved on (after a switch, the rebuild that made it; after an abandon or
a stale build, at once), and `install` (every start) sweeps what a crash left. A retired
generation's number is never reused while marked, and the janitor re-checks in each
transaction that it is neither serving nor being built.

Every commit of a projection checks, in its own transaction, that its generation still holds
the role it writes for (`Slot.guard`): a follower of a generation switched away gets
StaleProjection, reloads the serving generation and goes on, so no process writes into tables
that no longer serve."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import OperationalError, PersistenceError
from psycopg.errors import LockNotAvailable

from projections.database import Database
from projections.following.tracking import StaleProjection, Tracking

log = logging.getLogger(__name__)

SWEEP_ROWS = 200
"""Rows one janitor transaction deletes from a retired table on SQLite, so it holds the write
lock for milliseconds. Timed on a copy of the 1.5M-event, 5,000-tool ledger (`verdict rebuild`,
each step timed; a machine busy with tests): at 1,000 rows a step of view_tool_points (~4 KB
rows) held the lock up to 184 ms; at 200, steps took 3.7 ms at the median and 71 ms at most
there (125 ms once, elsewhere); the whole sweep took 29 s beside the service, 15.8 s of it in
the steps (the rest the pauses), ~13x the 1.24 s that the DROP it replaces held the lock."""

SWEEP_PAUSE_SECONDS = 0.005
"""The janitor's least pause between its SQLite transactions, so a writer waiting for the lock
(its busy handler retries every 1 to 100 ms) gets it rather than the janitor's next one."""


SWITCH_LOCK_TIMEOUT_MS = 200
"""PostgreSQL: how long a switch waits for readers to let go of the views it repoints. A reader's
transaction that holds one view and then reads another the switch already took deadlocked
with it (PostgreSQL aborted one of the two after its 1 s deadlock_timeout); a switch that
takes every view first and gives up well before that is never part of a deadlock, and
readers wait for it at most this long."""

SWITCH_ATTEMPTS = 10
"""Times a switch gives way to readers, pausing a little longer each time (~9 s of pauses at
most), before it answers "not yet" as if it had been refused."""


class StaleGeneration(StaleProjection):
    """The generation a projection writes is no longer serving (or building): reload."""


class RefusedGeneration(RuntimeError):
    """What a rebuild built failed its check before the switch: it is retired, never served."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One generation of a projection's tables, in the role it is written for."""

    name: str
    generation: int
    serving: bool

    @property
    def tracking(self) -> str:
        """Its row in `view_tracking`: the projection's own name while serving."""
        return self.name if self.serving else f"{self.name}:g{self.generation}"

    def table(self, base: str) -> str:
        return f"{base}_g{self.generation}"


@dataclass(frozen=True, slots=True)
class Layout:
    """A projection's derived tables: their unnumbered names (what readers query) and the DDL
    of one generation, given a function naming its tables and indexes."""

    name: str
    version: int
    """The fold version of the code running now (declared beside the fold)."""
    tables: Sequence[str]
    ddl: Callable[[Callable[[str], str]], list[str]]
    indexes: Sequence[str] = ()
    """Its indexes' unnumbered names: those of the layout before generations, dropped when
    its tables become generation 1 (which gets numbered ones)."""


@dataclass(frozen=True, slots=True)
class Generations:
    """The row of `view_generations` for one projection."""

    serving: int
    version: int
    building: int | None
    building_version: int | None


class GenerationTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create_table(self) -> None:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS view_generations (name TEXT PRIMARY KEY, "
            "serving INTEGER NOT NULL, version INTEGER NOT NULL, building INTEGER, "
            "building_version INTEGER)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS view_retired (name TEXT NOT NULL, "
            "generation INTEGER NOT NULL, PRIMARY KEY (name, generation))"
        )

    def read(self, name: str) -> Generations | None:
        rows = self.db.fetch(
            "SELECT serving, version, building, building_version FROM view_generations "
            "WHERE name = ?",
            (name,),
        )
        return _generations(rows[0]) if rows else None

    def serving(self, name: str) -> Slot:
        found = self.read(name)
        return Slot(name, found.serving if found else 1, serving=True)

    def moved(self, slot: Slot) -> bool:
        """Whether `slot` is no longer the generation its projection serves: a rebuild switched
        since it was read, so a projection holding it in memory reloads."""
        return self.serving(slot.name).generation != slot.generation

    # -- schema -------------------------------------------------------------------------------

    def install(self, layout: Layout) -> None:
        """Make sure the projection has a serving generation and the SQL views over it. A
        store of the layout before generations (plain tables under the unnumbered names) has
        its tables renamed to generation 1, taken as built by the running version."""
        self.create_table()
        with self.db.transaction(commit=True) as c:
            self._take_write_lock(c, layout.name)
            found = self._read(c, layout.name)
            if found is None:
                legacy = [t for t in layout.tables if self._is_table(c, t)]
                for table in legacy:
                    c.execute(f"ALTER TABLE {table} RENAME TO {table}_g1")
                for index in layout.indexes if legacy else ():
                    c.execute(f"DROP INDEX IF EXISTS {index}")
                c.execute(
                    self.db.sql(
                        "INSERT INTO view_generations (name, serving, version) VALUES (?, 1, ?)"
                    ),
                    (layout.name, layout.version),
                )
                found = Generations(1, layout.version, None, None)
            slot = Slot(layout.name, found.serving, serving=True)
            for statement in layout.ddl(suffixed(slot.generation)):
                c.execute(statement)
            missing = [t for t in layout.tables if not self._exists(c, t, "VIEW")]
            if missing:
                self._point_views(c, missing, slot.generation)
        self.sweep_after(layout)  # what a process killed before its sweep left retired

    def _point_views(self, c: Any, tables: Sequence[str], generation: int) -> None:
        for table in tables:
            c.execute(f"DROP VIEW IF EXISTS {table}")
            c.execute(f"CREATE VIEW {table} AS SELECT * FROM {table}_g{generation}")  # noqa: S608 - our names

    def _is_table(self, c: Any, name: str) -> bool:
        return self._exists(c, name, "BASE TABLE")

    def _exists(self, c: Any, name: str, kind: str) -> bool:
        """Whether `name` is a table ("BASE TABLE") or a view ("VIEW")."""
        if self.db.is_postgres:
            statement = (
                "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                "AND table_name = %s AND table_type = %s"
            )
            c.execute(statement, (name, kind))
        else:
            statement = "SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?"
            c.execute(statement, ("table" if kind == "BASE TABLE" else "view", name))
        return c.fetchone() is not None

    def _read(self, c: Any, name: str, *, lock: bool = False) -> Generations | None:
        lock_clause = " FOR UPDATE" if lock and self.db.is_postgres else ""
        c.execute(
            self.db.sql(
                "SELECT serving, version, building, building_version FROM view_generations "  # noqa: S608 - literal clause
                "WHERE name = ?" + lock_clause
            ),
            (name,),
        )
        row = c.fetchone()
        return None if row is None else _generations(row)

    # -- building and switching ---------------------------------------------------------------

    def begin(self, layout: Layout) -> Slot:
        """The generation to build for the running version: the one being built already if it
        was begun for this version (a rebuild resumes where it committed), else a new one with
        empty tables (one begun for another version is retired, then swept)."""
        with self.db.transaction(commit=True) as c:
            self._take_write_lock(c, layout.name)
            found = self._read(c, layout.name, lock=True)
            assert found is not None, f"{layout.name}: install() first"
            if found.building is not None and found.building_version == layout.version:
                resumed = Slot(layout.name, found.building, serving=False)
                for statement in layout.ddl(suffixed(resumed.generation)):  # a table added since
                    c.execute(statement)
                return resumed
            if found.building is not None:
                self._retire(c, Slot(layout.name, found.building, serving=False))
            highest = max(self._retired(c, layout.name), default=0)  # its tables may be left
            generation = max(found.serving, found.building or 0, highest) + 1
            slot = Slot(layout.name, generation, serving=False)
            for statement in layout.ddl(suffixed(generation)):
                c.execute(statement)
            c.execute(self.db.sql("DELETE FROM view_tracking WHERE name = ?"), (slot.tracking,))
            c.execute(
                self.db.sql(
                    "UPDATE view_generations SET building = ?, building_version = ? WHERE name = ?"
                ),
                (generation, layout.version, layout.name),
            )
        if found.building is not None:
            self.sweep_after(layout)
        return slot

    def abandon(self, layout: Layout, slot: Slot) -> None:
        """Retire a building generation (its rebuild failed its checks), then sweep it; the
        serving one stays."""
        with self.db.transaction(commit=True) as c:
            self._take_write_lock(c, layout.name)
            found = self._read(c, layout.name, lock=True)
            retiring = found is not None and found.building == slot.generation
            if retiring:
                self._retire(c, slot)
                c.execute(
                    self.db.sql(
                        "UPDATE view_generations SET building = NULL, building_version = NULL "
                        "WHERE name = ?"
                    ),
                    (layout.name,),
                )
        if retiring:
            self.sweep_after(layout)

    def switch(self, layout: Layout, slot: Slot, ready: Callable[[Any], bool]) -> bool | None:
        """Make building generation `slot` the serving one, in one transaction, if it is at or
        past the serving position and `ready(cursor)` agrees (called with the locks held);
        False if not yet (fold more, try again), None if `slot` is no longer the one being
        built (another process switched it, or began another). The old generation is retired
        in that transaction; the switching process sweeps it after (`sweep`), once it has
        moved on to the new one."""
        for attempt in range(1, SWITCH_ATTEMPTS + 1):
            try:
                with self.db.transaction(commit=True) as c:
                    return self._switch(c, layout, slot, ready)
            except OperationalError as error:
                if not isinstance(error.__cause__, LockNotAvailable):
                    raise
                log.info("%s: readers held the views (attempt %d)", layout.name, attempt)
                if attempt < SWITCH_ATTEMPTS:
                    time.sleep(SWITCH_LOCK_TIMEOUT_MS / 1000 * attempt)
        return False

    def _switch(
        self, c: Any, layout: Layout, slot: Slot, ready: Callable[[Any], bool]
    ) -> bool | None:
        self._take_write_lock(c, layout.name)
        if self.db.is_postgres:  # every view first, or give way to readers (see the timeout)
            c.execute(f"SET LOCAL lock_timeout = {SWITCH_LOCK_TIMEOUT_MS}")
            c.execute(f"LOCK TABLE {', '.join(layout.tables)} IN ACCESS EXCLUSIVE MODE")
            c.execute("SET LOCAL lock_timeout = DEFAULT")  # the timeout is for the views only
        found = self._read(c, layout.name, lock=True)
        if found is None or found.building != slot.generation:
            return None
        serving = Slot(layout.name, found.serving, serving=True)
        lock_clause = " FOR UPDATE" if self.db.is_postgres else ""
        c.execute(
            self.db.sql("SELECT name, position, size FROM view_tracking WHERE name IN (?, ?)")
            + lock_clause,
            (serving.tracking, slot.tracking),
        )
        at = {r["name"]: (int(r["position"]), int(r["size"])) for r in c.fetchall()}
        built = at.get(slot.tracking, (0, 0))
        if built[0] < at.get(serving.tracking, (0, 0))[0] or not ready(c):
            return False
        c.execute(self.db.sql("DELETE FROM view_tracking WHERE name = ?"), (slot.tracking,))
        c.execute(self.db.sql("DELETE FROM view_tracking WHERE name = ?"), (serving.tracking,))
        c.execute(
            self.db.sql("INSERT INTO view_tracking (name, position, size) VALUES (?, ?, ?)"),
            (serving.tracking, *built),
        )
        c.execute(
            self.db.sql(
                "UPDATE view_generations SET serving = ?, version = ?, building = NULL, "
                "building_version = NULL WHERE name = ?"
            ),
            (slot.generation, found.building_version, layout.name),
        )
        self._point_views(c, layout.tables, slot.generation)
        self._retire(c, serving)
        return True

    # -- retired generations and the janitor --------------------------------------------------

    def _retire(self, c: Any, slot: Slot) -> None:
        """Mark `slot`'s tables for the janitor (in the caller's transaction; no DROP here)."""
        c.execute(
            self.db.sql(
                "INSERT INTO view_retired (name, generation) VALUES (?, ?) ON CONFLICT DO NOTHING"
            ),
            (slot.name, slot.generation),
        )
        if not slot.serving:  # a serving slot's row is the projection's, taken by the new one
            c.execute(self.db.sql("DELETE FROM view_tracking WHERE name = ?"), (slot.tracking,))

    def _retired(self, c: Any, name: str) -> list[int]:
        c.execute(
            self.db.sql("SELECT generation FROM view_retired WHERE name = ? ORDER BY generation"),
            (name,),
        )
        return [int(r["generation"]) for r in c.fetchall()]

    def sweep_after(self, layout: Layout) -> None:
        """`sweep`, after a transaction that retired tables (or at start): a database error
        leaves them marked for the next start rather than failing what already committed."""
        try:
            self.sweep(layout)
        except PersistenceError as error:
            log.warning("%s: retired tables left for the next start: %s", layout.name, error)

    def sweep(self, layout: Layout, *, rows: int = SWEEP_ROWS) -> None:
        """The janitor: empty and drop every retired generation's tables of `layout`, each
        step its own short transaction (`sweeping`). On SQLite it pauses after each step as
        long as the step took, so a writer waiting for the lock finds it free half the time."""
        started = time.monotonic()
        for _ in self.sweeping(layout, rows=rows):
            if not self.db.is_postgres:  # at most half the time holding the write lock
                time.sleep(max(SWEEP_PAUSE_SECONDS, time.monotonic() - started))
            started = time.monotonic()

    def sweeping(self, layout: Layout, *, rows: int = SWEEP_ROWS) -> Iterator[None]:
        """The janitor's steps, yielding after each one's commit. SQLite: each deletes at most
        `rows` rows of a retired table, and one that finds it empty drops it (a DROP of a full
        table walks its pages under the write lock). PostgreSQL: each drops one table whole;
        DROP there unlinks the files, cheap, though it takes ACCESS EXCLUSIVE on the old table
        (only a reader's transaction begun before the switch still holds it), so it runs in its
        own transaction too. The last step removes the mark. Every step re-checks, in its
        transaction, that the generation is still retired and neither serving nor building,
        and that no view reads the table; the mark goes only once every table has."""
        with self.db.transaction(commit=False) as c:
            marked = self._retired(c, layout.name)
        for generation in marked:
            slot = Slot(layout.name, generation, serving=False)
            for table in layout.tables:
                while (dropped := self._sweep_step(slot, slot.table(table), rows)) is not None:
                    yield
                    if dropped:
                        break
            with self.db.transaction(commit=True) as c:
                self._take_write_lock(c, layout.name)
                left = [t for t in layout.tables if self._is_table(c, slot.table(t))]
                if not left and self._still_retired(c, layout.name, generation):
                    c.execute(
                        self.db.sql("DELETE FROM view_retired WHERE name = ? AND generation = ?"),
                        (layout.name, generation),
                    )
            yield

    def _sweep_step(self, slot: Slot, table: str, rows: int) -> bool | None:
        """One janitor transaction on retired `table`: True if it dropped it, False if it
        deleted rows (more may be left), None if there was nothing to do. Two processes may
        sweep at once (each start sweeps): hence IF EXISTS, for one whose DROP waited."""
        with self.db.transaction(commit=True) as c:
            self._take_write_lock(c, slot.name)
            if not self._still_retired(c, slot.name, slot.generation):
                return None
            if not self._is_table(c, table):
                return None
            if self._viewed(c, table):
                log.error("%s is retired but a view reads it: left as it is", table)
                return None
            if not self.db.is_postgres:
                c.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} LIMIT ?)",  # noqa: S608 - our names
                    (rows,),
                )
                if c.sqlite_cursor.rowcount:
                    return False
            c.execute(f"DROP TABLE IF EXISTS {table}")  # empty on SQLite: a root page or two
            return True

    def _viewed(self, c: Any, table: str) -> bool:
        """Whether a SQL view reads `table` (none should: the views are the serving
        generation's; PostgreSQL would refuse the DROP, SQLite would let it break the view)."""
        if self.db.is_postgres:
            c.execute(
                "SELECT 1 FROM information_schema.view_table_usage "
                "WHERE view_schema = current_schema() AND table_name = %s",
                (table,),
            )
        else:  # our views are `CREATE VIEW v AS SELECT * FROM table` (_point_views)
            c.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'view' AND sql LIKE ? ESCAPE '\\'",
                ("% FROM " + table.replace("_", "\\_"),),
            )
        return c.fetchone() is not None

    def _still_retired(self, c: Any, name: str, generation: int) -> bool:
        """Marked retired, and neither the serving nor the building generation."""
        c.execute(
            self.db.sql(
                "SELECT 1 FROM view_retired r JOIN view_generations g ON g.name = r.name "
                "WHERE r.name = ? AND r.generation = ? AND g.serving <> r.generation "
                "AND (g.building IS NULL OR g.building <> r.generation)"
            ),
            (name, generation),
        )
        if c.fetchone() is not None:
            return True
        c.execute(
            self.db.sql("SELECT 1 FROM view_retired WHERE name = ? AND generation = ?"),
            (name, generation),
        )
        if c.fetchone() is not None:
            log.error("%s generation %d is marked retired but serves or is built", name, generation)
        return False

    def _take_write_lock(self, c: Any, name: str) -> None:
        """SQLite: write first, so the transaction holds the file's write lock before it reads
        (a read-then-write transaction fails if another writer committed in between)."""
        if not self.db.is_postgres:
            c.execute("UPDATE view_generations SET serving = serving WHERE name = ?", (name,))

    # -- the commit guard ---------------------------------------------------------------------

    def advance(
        self, c: Any, tracking: Tracking, slot: Slot, expected: int, new: int, size: int
    ) -> None:
        """`Tracking.advance` of `slot`'s row, guarded: the generation still holds its role."""
        if self.db.is_postgres:
            self.guard(c, slot)
        tracking.advance(c, slot.tracking, expected, new, size)
        if not self.db.is_postgres:
            self.guard(c, slot)

    def guard(self, c: Any, slot: Slot) -> None:
        """Inside a projection's commit: StaleGeneration unless `slot` still holds its role.
        PostgreSQL: call it first (it share-locks the row, so a switch waits for the commit);
        SQLite: after the first write (the file's write lock already orders the two)."""
        column = "serving" if slot.serving else "building"
        lock_clause = " FOR SHARE" if self.db.is_postgres else ""
        c.execute(
            self.db.sql(f"SELECT 1 FROM view_generations WHERE name = ? AND {column} = ?")  # noqa: S608 - literal column
            + lock_clause,
            (slot.name, slot.generation),
        )
        if c.fetchone() is None:
            role = "serving" if slot.serving else "being built"
            raise StaleGeneration(f"{slot.name} generation {slot.generation} is no longer {role}")


def suffixed(generation: int) -> Callable[[str], str]:
    """Names of one generation's tables and indexes: `view_tools` -> `view_tools_g2`."""
    return lambda base: f"{base}_g{generation}"


def _generations(row: Any) -> Generations:
    building = row["building"]
    building_version = row["building_version"]
    return Generations(
        int(row["serving"]),
        int(row["version"]),
        None if building is None else int(building),
        None if building_version is None else int(building_version),
    )
