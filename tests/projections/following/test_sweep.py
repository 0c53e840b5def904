"""Retired generations and the janitor: a switch (or an abandon, or a begin over a stale build)
only marks the old tables retired, so the transaction that holds the write lock stays short;
the janitor then empties and drops them in short transactions of their own, and a start sweeps
what a crash left behind. On both stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.bootstrap import Runtime, open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.catalog.views import CATALOG, CatalogProjection
from projections.database import Database
from projections.following.follower import Follower
from projections.following.generations import GenerationTable, Layout
from projections.following.rebuild import rebuild_together
from tests.projections.following.test_generations import Reader

SMALL = 3
"""Rows a janitor transaction may delete in these tests: fewer than the tables hold."""


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    for i in range(12):
        runtime.ledger.vote("smollm3", f"voter:s{i}", "ship" if i % 3 else "skip")
    for projection in runtime.projections():
        Follower(runtime.ledger.recorder, projection).catch_up()
    yield runtime
    runtime.close()


def retired(db: Database, name: str) -> list[int]:
    rows = db.fetch("SELECT generation FROM view_retired WHERE name = ? ORDER BY 1", (name,))
    return [int(r["generation"]) for r in rows]


def rows_of(db: Database, layout: Layout, generation: int) -> dict[str, int]:
    """Rows of each of the generation's tables that exist."""
    return {
        table: int(db.fetch(f"SELECT COUNT(*) AS n FROM {table}_g{generation}")[0]["n"])  # noqa: S608 - ours
        for table in layout.tables
        if db.has_table(f"{table}_g{generation}")
    }


def no_sweep(monkeypatch: pytest.MonkeyPatch, table: GenerationTable) -> None:
    """The process is killed right after its transaction commits: no sweep follows."""
    monkeypatch.setattr(table, "sweep", lambda layout, **_: None, raising=False)


class RecordingCursor:
    def __init__(self, cursor: Any, statements: list[tuple[str, int]], is_postgres: bool) -> None:
        self.cursor, self.statements, self.is_postgres = cursor, statements, is_postgres

    def execute(self, statement: str, *params: Any) -> None:
        self.cursor.execute(statement, *params)
        raw = self.cursor if self.is_postgres else self.cursor.sqlite_cursor
        self.statements.append((" ".join(statement.split()), raw.rowcount))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cursor, name)


def record(monkeypatch: pytest.MonkeyPatch, db: Database) -> list[list[tuple[str, int]]]:
    """Every transaction `db` opens from now on: its statements and the rows each touched."""
    transactions: list[list[tuple[str, int]]] = []
    real = db.transaction

    @contextmanager
    def recording(*, commit: bool) -> Iterator[RecordingCursor]:
        statements: list[tuple[str, int]] = []
        transactions.append(statements)
        with real(commit=commit) as c:
            yield RecordingCursor(c, statements, db.is_postgres)

    monkeypatch.setattr(db, "transaction", recording)
    return transactions


def test_a_switch_retires_the_old_tables_and_the_sweep_after_it_drops_them(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after the switch commits, the old generation's tables are all there, rows and
    all, and marked retired; once the switching process has swept, they and the mark are gone."""
    views = runtime.views
    generations, layout, db = views.generations, views.layout, views.db
    old = generations.serving(CATALOG).generation
    before = rows_of(db, layout, old)
    seen: list[tuple[dict[str, int], list[int]]] = []
    sweep = getattr(generations, "sweep", None)

    def spying(layout: Layout, **kwargs: Any) -> None:
        seen.append((rows_of(db, layout, old), retired(db, layout.name)))
        assert sweep is not None
        sweep(layout, **kwargs)

    monkeypatch.setattr(generations, "sweep", spying, raising=False)
    rebuild_together(runtime.ledger.recorder, [CatalogProjection(views)])
    new = generations.serving(CATALOG).generation
    assert new != old
    assert seen, "the switching process sweeps"
    assert seen[0] == (before, [old]), "after the switch, before the sweep"
    assert rows_of(db, layout, old) == {}
    assert retired(db, CATALOG) == []
    assert set(rows_of(db, layout, new)) == set(layout.tables)


def test_the_switch_transaction_drops_nothing(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transaction that flips `view_generations` (and holds SQLite's one write lock) issues
    no DROP TABLE: the old tables still hold their rows once it has committed."""
    views = runtime.views
    old = views.generations.serving(CATALOG).generation
    before = rows_of(views.db, views.layout, old)
    no_sweep(monkeypatch, views.generations)
    transactions = record(monkeypatch, views.db)
    rebuild_together(runtime.ledger.recorder, [CatalogProjection(views)])
    switches = [t for t in transactions if any("building = NULL" in s for s, _ in t)]
    assert len(switches) == 1
    assert [s for s, _ in switches[0] if s.startswith("DROP TABLE")] == []
    assert rows_of(views.db, views.layout, old) == before
    assert retired(views.db, CATALOG) == [old]


def test_each_janitor_transaction_is_short(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: each janitor transaction deletes at most `rows` rows, and a table is dropped
    only once empty (DROP walks every page of a table, under the write lock). PostgreSQL: a
    table is dropped whole, one table a transaction (DROP unlinks its files)."""
    views = runtime.views
    generations, layout, db = views.generations, views.layout, views.db
    old = generations.serving(CATALOG).generation
    no_sweep(monkeypatch, generations)
    rebuild_together(runtime.ledger.recorder, [CatalogProjection(views)])
    left = rows_of(db, layout, old)
    assert max(left.values()) > SMALL, "more rows than a transaction deletes"
    transactions = record(monkeypatch, db)
    steps = 0
    for _ in generations.sweeping(layout, rows=SMALL):
        steps += 1
        assert len(transactions) == 1 + steps, "a read of the marks, then one a step"
        done = transactions[-1]
        deleted = [n for s, n in done if s.startswith("DELETE FROM view_") and "_g" in s]
        drops = [s for s, _ in done if s.startswith("DROP TABLE")]
        assert len(drops) <= 1
        if db.is_postgres:
            assert deleted == []
        else:
            assert len(deleted) <= 1 and sum(deleted) <= SMALL
            assert not drops or deleted == [0], "dropped only once empty"
    assert rows_of(db, layout, old) == {}
    assert retired(db, CATALOG) == []
    if not db.is_postgres:
        assert steps >= sum(-(-n // SMALL) for n in left.values()) + len(left)


def test_a_start_sweeps_what_a_crash_left_retired(
    settings: Settings, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between the switch and its sweep: the old tables stay, marked; the next start
    (install) sweeps them."""
    views = runtime.views
    old = views.generations.serving(CATALOG).generation
    no_sweep(monkeypatch, views.generations)
    rebuild_together(runtime.ledger.recorder, [CatalogProjection(views)])
    assert set(rows_of(views.db, views.layout, old)) == set(views.layout.tables)
    assert retired(views.db, CATALOG) == [old]
    monkeypatch.undo()
    again = open_runtime(settings)
    try:
        assert rows_of(again.views.db, again.views.layout, old) == {}
        assert retired(again.views.db, CATALOG) == []
    finally:
        again.close()


def test_an_abandoned_generation_is_retired_and_its_number_not_reused_until_swept(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`abandon` and a `begin` over a build of another version retire the build's tables
    rather than drop them; a new build never takes a retired generation's number (its tables
    would still hold the old rows)."""
    views = runtime.views
    generations, layout = views.generations, views.layout
    no_sweep(monkeypatch, generations)
    first = generations.begin(layout)
    generations.abandon(layout, first)
    assert retired(views.db, CATALOG) == [first.generation]
    second = generations.begin(layout)
    assert second.generation > first.generation
    with views.db.transaction(commit=True) as c:  # as if begun by another version
        c.execute(views.db.sql("UPDATE view_generations SET building_version = -1"))
    third = generations.begin(layout)
    assert retired(views.db, CATALOG) == [first.generation, second.generation]
    assert third.generation > second.generation
    for _ in generations.sweeping(layout, rows=SMALL):
        pass
    assert retired(views.db, CATALOG) == []
    for gone in (first, second):
        assert rows_of(views.db, layout, gone.generation) == {}
    assert set(rows_of(views.db, layout, third.generation)) == set(layout.tables)


def test_readers_see_the_new_generation_while_the_janitor_works(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between every janitor step, votes are written and followed, and readers (one statement,
    and the poller) never go back nor lose a tool; the views are the new generation's rows."""
    views = runtime.views
    recorder = runtime.ledger.recorder
    no_sweep(monkeypatch, views.generations)
    rebuild_together(recorder, [CatalogProjection(views)])
    new = views.generations.serving(CATALOG).generation
    live = Follower(recorder, runtime.projection(CATALOG))
    reader = Reader(runtime)
    for i, _ in enumerate(views.generations.sweeping(views.layout, rows=SMALL)):
        runtime.ledger.vote("smollm3", f"voter:j{i}", "ship")
        live.catch_up()
        reader.read()
        reader.poll()
        for table in views.layout.tables:
            assert sorted(views.db.fetch_tuples(f"SELECT * FROM {table}")) == sorted(  # noqa: S608
                views.db.fetch_tuples(f"SELECT * FROM {table}_g{new}")  # noqa: S608 - ours
            )
    assert retired(views.db, CATALOG) == []


def test_the_janitor_leaves_what_serves_is_built_or_is_read_by_a_view(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marks that must not be there (a bug): the serving and the building generation marked
    retired, and a retired table a view still reads. The janitor empties and drops none of
    them, and keeps their marks; the rest of the retired generation goes."""
    views = runtime.views
    generations, layout, db = views.generations, views.layout, views.db
    old = generations.serving(CATALOG).generation
    no_sweep(monkeypatch, generations)
    rebuild_together(runtime.ledger.recorder, [CatalogProjection(views)])
    serving = generations.serving(CATALOG).generation
    building = generations.begin(layout).generation
    for generation in (serving, building):
        db.execute(
            "INSERT INTO view_retired (name, generation) VALUES (?, ?)", (CATALOG, generation)
        )
    db.execute(f"CREATE VIEW stray AS SELECT * FROM view_tools_g{old}")  # noqa: S608 - a number
    kept = {g: rows_of(db, layout, g) for g in (serving, building)}
    read = rows_of(db, layout, old)["view_tools"]
    for _ in generations.sweeping(layout, rows=SMALL):
        pass
    assert {g: rows_of(db, layout, g) for g in (serving, building)} == kept
    assert rows_of(db, layout, old) == {"view_tools": read}
    assert retired(db, CATALOG) == sorted({old, serving, building})


STEPS = st.lists(
    st.sampled_from(["begin", "fill", "switch", "abandon", "step", "restart"]), max_size=30
)


class Lazy(GenerationTable):
    """Never sweeps after itself, as if each process were killed right after its commit."""

    def sweep(self, layout: Layout, *, rows: int = 0) -> None:
        pass


@hypothesis_settings(max_examples=25)
@given(steps=STEPS)
def test_any_interleaving_leaves_exactly_the_serving_and_building_tables(
    runtime: Runtime, steps: list[str]
) -> None:
    """Begins, switches and abandons (none sweeping after itself, as if each process were
    killed there), single janitor steps and restarts, in any order: the tables that exist
    are the serving, the building and the retired generations', the view shows the serving
    one, and once swept only the serving and building tables are left."""
    db = Database(runtime.ledger.recorder)
    base = f"janitor_{uuid.uuid4().hex[:8]}"
    layout = Layout(
        base,
        1,
        [base],
        lambda named: [f"CREATE TABLE IF NOT EXISTS {named(base)} (k INTEGER PRIMARY KEY)"],
    )

    generations = Lazy(db)
    generations.install(layout)
    rows = 0

    def exists(generation: int) -> bool:
        return db.has_table(f"{base}_g{generation}")

    def check(swept: bool) -> None:
        found = generations.read(base)
        assert found is not None
        kept = {found.serving} | ({found.building} if found.building is not None else set())
        marked = set(retired(db, base))
        assert not marked & kept
        present = {g for g in range(1, 2 * len(steps) + 3) if exists(g)}
        assert kept <= present <= kept | marked
        if swept:
            assert present == kept and marked == set()
        served = db.fetch(f"SELECT COUNT(*) AS n FROM {base}")[0]["n"]  # noqa: S608 - ours
        assert served == len(db.fetch(f"SELECT k FROM {base}_g{found.serving}"))  # noqa: S608

    def building() -> int | None:
        found = generations.read(base)
        return None if found is None else found.building

    for step in steps:
        if step == "begin":
            generations.begin(layout)
        elif step == "fill" and building() is not None:
            rows += 1
            db.execute(f"INSERT INTO {base}_g{building()} (k) VALUES (?)", (rows,))  # noqa: S608
        elif step == "switch" and building() is not None:
            assert generations.switch(layout, generations.begin(layout), lambda _: True)
        elif step == "abandon" and building() is not None:
            generations.abandon(layout, generations.begin(layout))
        elif step == "step":
            next(iter(generations.sweeping(layout, rows=1)), None)
        elif step == "restart":
            generations = Lazy(db)
            generations.install(layout)
        check(swept=False)
    for _ in generations.sweeping(layout, rows=1):
        check(swept=False)
    check(swept=True)
