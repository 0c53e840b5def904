"""The catalog's tables beside the event store: each row is a published document (JSON bytes,
served as is). A batch of documents commits with the projection's new position (tracking.py), so
what a read sees always comes from one committed log prefix, and it says which one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from eventsourcing.persistence import ApplicationRecorder

from projections.catalog.changes import (
    CHANGES,
    changed_slugs,
    changes_ddl,
    last_seq,
    record_sql,
    record_values,
    ring_sql,
)
from projections.catalog.fold import (
    CATALOG_VERSION,
    Catalog,
    ComparisonState,
    Point,
    ToolState,
    document_as_of,
    point_document,
)
from projections.catalog.paging import SORT_COLUMNS, Key, Order, tool_columns
from projections.catalog.sortable import sortable
from projections.catalog.staged import StagedTails
from projections.catalog.tails import POINTS_PER_ROW, PointTails, Row
from projections.database import Database
from projections.following.generations import GenerationTable, Layout, Slot
from projections.following.tracking import Tracking
from projections.records import LedgerEvent

CATALOG = "catalog"
CATALOG_TABLES = (
    "view_tools",
    "view_comparisons",
    "view_verdict_history",
    "view_tool_points",
    "view_tool_versions",
    "view_actions",
    "view_corrections",
    CHANGES,
)
COMMIT_TABLES = (CHANGES,)
"""Catalog tables that record the commits rather than the fold: two generations folded from the
same log hold the same rows in the others, not in these; a generation without one gains it at
start, empty, and is not refolded for it."""
FOLDED_TABLES = tuple(t for t in CATALOG_TABLES if t not in COMMIT_TABLES)
TAIL_READS = 500
"""Tools whose last timeline row one statement reads (a parameter each)."""
DOCUMENT_READS = 500
"""Tool documents one statement of a poll reads by slug (a parameter each)."""
TOOLS_FILL = " WITH (fillfactor = 50)"
"""PostgreSQL's storage clause of view_tools: half of each page is left free, so the new version
of a row that a ballot-only commit updates fits in its page, and the update is HOT (no index
entry, the old version pruned in the page without VACUUM) once it sets no indexed column.
ALTER TABLE applies it to the pages written after; SQLite has no such option."""
PAGE_BYTES = 199_000
"""Document bytes a list answer holds at most: with its envelope, every answer stays under
200 KB whatever its documents weigh (a page then ends early, and says where the next begins)."""
UNKNOWN_VERSION = 0
"""The version recorded for a serving catalog that lacks a table of the running layout: no
version of the folds, so it is rebuilt."""
LEGACY_TABLES = ("view_tool_timeline",)
TOOL_INDEXES = {
    f"view_tools_{prefix}{column}": f"{prefix and 'category, '}{column} DESC, slug"
    for prefix in ("", "category_")
    for column in SORT_COLUMNS.values()
}
"""The list orders' indexes (projections/catalog/paging.py): one per order, and per order
within a category."""
CATALOG_INDEXES = (
    "view_verdict_history_seat",
    "view_tool_points_at",
    "view_comparisons_published_at",
    "view_corrections_tool",
    "view_tools_position",
    *TOOL_INDEXES,
)
"""Tables of the one-row-per-point layout: found at start, they are dropped and the catalog is
rebuilt from the events."""
FULL_ROW = f"count >= {POINTS_PER_ROW}"
"""The rows of view_tool_points that take no more points (the index on their times holds only
those; a literal, so that both stores' planners match it to the index's predicate)."""
FULL_AT_INDEX = f"view_tool_points_full{POINTS_PER_ROW}_at"
"""That index, named from POINTS_PER_ROW as its predicate is: a generation made under another
row size keeps its index of that size, and gets one of this size beside it at start."""
RETIRED_POINT_INDEXES = ("view_tool_points_at", "view_tool_points_full_at")
"""Indexes on timeline times that a generation may still hold, dropped at start: the one on
every row, and the one on full rows before its name held the row size. A change of
POINTS_PER_ROW adds FULL_AT_INDEX's present name here."""
RETIRED_TOOL_INDEXES = ("view_tools_position",)
"""Indexes on view_tools that a generation may still hold, dropped at start: the one on
`position` that pollers read before the change ring (projections/catalog/changes.py); every
commit moved it, so no ballot-only update was HOT on PostgreSQL."""
SORT_KEY_COLUMNS = {"view_tools": "community_pct", "view_comparisons": "right_tool"}
"""A column each table gained with its sort keys: a table without it is dropped at start and
the catalog rebuilt from the events, which writes the keys."""


def catalog_ddl(
    named: Callable[[str], str], blob: str, text: str, *, postgres: bool = False
) -> list[str]:
    """One generation's catalog tables and indexes, `named` giving each its numbered name;
    `text` is the type of the columns lists sort by (byte order on both stores, as in Python)."""
    tools, comparisons = named("view_tools"), named("view_comparisons")
    fill = TOOLS_FILL if postgres else ""
    return [
        f"CREATE TABLE IF NOT EXISTS {tools} (slug {text} PRIMARY KEY, "
        f"position BIGINT NOT NULL, listed_at {text} NOT NULL, category {text} NOT NULL, "
        "status TEXT NOT NULL, panel_pct INTEGER NOT NULL, community_pct INTEGER NOT NULL, "
        f"doc {blob} NOT NULL){fill}",
        # A table made before the clause (pages written from now on keep the room).
        *([f"ALTER TABLE {tools} SET (fillfactor = 50)"] if postgres else []),
        *(
            f"CREATE INDEX IF NOT EXISTS {named(index)} ON {tools} ({keys})"
            for index, keys in TOOL_INDEXES.items()
        ),
        # No index on `position`: what a poller reads is the change ring's (changes.py).
        *(f"DROP INDEX IF EXISTS {named(index)}" for index in RETIRED_TOOL_INDEXES),
        changes_ddl(named(CHANGES), blob, fill),
        f"CREATE TABLE IF NOT EXISTS {comparisons} (key {text} PRIMARY KEY, "
        f"position BIGINT NOT NULL, published_at {text} NOT NULL, status TEXT NOT NULL, "
        f"left_tool TEXT NOT NULL, right_tool TEXT NOT NULL, doc {blob} NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {named('view_comparisons_published_at')} "
        f"ON {comparisons} (published_at DESC, key)",
        f"CREATE TABLE IF NOT EXISTS {named('view_verdict_history')} "
        f"(position BIGINT PRIMARY KEY, tool TEXT NOT NULL, seat TEXT NOT NULL, "
        f"doc {blob} NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {named('view_verdict_history_seat')} "
        f"ON {named('view_verdict_history')} (tool, seat, position)",
        f"CREATE TABLE IF NOT EXISTS {named('view_tool_points')} (tool TEXT NOT NULL, "
        f"first_size BIGINT NOT NULL, last_size BIGINT NOT NULL, count INTEGER NOT NULL, "
        f"min_at TEXT NOT NULL, max_at TEXT NOT NULL, points {blob} NOT NULL, "
        "PRIMARY KEY (tool, first_size))",
        # Full rows only: a commit tops up each touched tool's last row, and an index on its
        # times would move with it (a page per touched tool); tool_at_time reads that row by
        # its key instead. Only a tool's last row has room (PointTails.pack).
        *(f"DROP INDEX IF EXISTS {named(index)}" for index in RETIRED_POINT_INDEXES),
        f"CREATE INDEX IF NOT EXISTS {named(FULL_AT_INDEX)} "
        f"ON {named('view_tool_points')} (tool, max_at, min_at) WHERE {FULL_ROW}",
        f"CREATE TABLE IF NOT EXISTS {named('view_tool_versions')} (tool TEXT NOT NULL, "
        f"size BIGINT NOT NULL, doc {blob} NOT NULL, PRIMARY KEY (tool, size))",
        # Keyed by actor then position: an editor's newest actions are one index range,
        # however long the log (votes never enter it).
        f"CREATE TABLE IF NOT EXISTS {named('view_actions')} (actor TEXT NOT NULL, "
        f"position BIGINT NOT NULL, doc {blob} NOT NULL, PRIMARY KEY (actor, position))",
        f"CREATE TABLE IF NOT EXISTS {named('view_corrections')} (position BIGINT PRIMARY KEY, "
        f"tool TEXT NOT NULL, doc {blob} NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {named('view_corrections_tool')} "
        f"ON {named('view_corrections')} (tool, position)",
    ]


def documents_sql(count: int) -> str:
    """The documents of `count` tools, by primary key: what a poll reads of the ring's slugs."""
    return f"SELECT slug, doc FROM view_tools WHERE slug IN ({', '.join('?' * count)})"  # noqa: S608 - placeholders


def tool_version(db: Database, c: Any, slug: str, size: int) -> dict[str, Any]:
    """The tool's last editorial version at or below log `size`, read on cursor `c`: every
    answer "as of" a size (documents, score pages) takes its status and panel from here."""
    c.execute(
        db.sql(
            "SELECT doc FROM view_tool_versions WHERE tool = ? AND size <= ? "
            "ORDER BY size DESC LIMIT 1"
        ),
        (slug, size),
    )
    version: dict[str, Any] = orjson.loads(c.fetchone()["doc"])
    return version


class ViewStore:
    """Documents and positions in the ledger's own database (SQLite file or PostgreSQL).
    Queries read the serving generation through the unnumbered SQL views; the projection
    writes the generation of its `Slot`."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        self.tracking = Tracking(self.db)
        self.generations = GenerationTable(self.db)
        blob = self.db.blob
        text = 'TEXT COLLATE "C"' if self.db.is_postgres else "TEXT"  # byte order, as in Python
        self.layout = Layout(
            CATALOG,
            CATALOG_VERSION,
            CATALOG_TABLES,
            lambda named: catalog_ddl(named, blob, text, postgres=self.db.is_postgres),
            CATALOG_INDEXES,
        )

    # -- schema -----------------------------------------------------------------------------

    def create_tables(self) -> None:
        self.tracking.create_table()
        legacy = [table for table in LEGACY_TABLES if self.db.has_table(table)]
        found = self.generations.read(CATALOG) if self.db.has_table("view_generations") else None
        suffix = "" if found is None else f"_g{found.serving}"
        missing = [t for t in FOLDED_TABLES if not self.db.has_table(t + suffix)]
        unsorted = [
            table
            for table, column in SORT_KEY_COLUMNS.items()
            if self.db.has_table(table + suffix) and not self.db.has_column(table + suffix, column)
        ]
        if unsorted:  # tables of the layout before sort keys: refolded, as legacy tables are
            with self.db.transaction(commit=True) as c:
                for table in unsorted:
                    if suffix:  # the view over it goes first; install points a new one
                        c.execute(f"DROP VIEW IF EXISTS {table}")
                    c.execute(f"DROP TABLE {table}{suffix}")
        self.generations.install(self.layout)
        if legacy or unsorted:
            slot = self.generations.serving(CATALOG)
            with self.db.transaction(commit=True) as c:
                for table in legacy:
                    c.execute(f"DROP TABLE {table}")
                self._empty(c, slot)
        elif missing and len(missing) < len(FOLDED_TABLES):
            # A table added since the serving catalog was folded: it is outdated, and the
            # process that follows it rebuilds it beside the serving views, as for new folds.
            self.db.execute(
                "UPDATE view_generations SET version = ? WHERE name = ?", (UNKNOWN_VERSION, CATALOG)
            )

    # -- positions --------------------------------------------------------------------------

    def position(self, name: str) -> int:
        return self.tracking.tracked(name)[0]

    def wait_for(self, name: str, position: int, timeout: float) -> int:
        return self.tracking.wait_for(name, position, timeout)

    def serving_at(self, name: str) -> tuple[int, int]:
        """(serving generation, its position), read in one statement: what a poller compares
        to know whether the documents it holds are still the serving ones."""
        rows = self.db.fetch(
            "SELECT g.serving AS serving, k.position AS position FROM view_generations g "
            "LEFT JOIN view_tracking k ON k.name = g.name WHERE g.name = ?",
            (name,),
        )
        return (int(rows[0]["serving"]), int(rows[0]["position"] or 0)) if rows else (0, 0)

    # -- catalog documents ------------------------------------------------------------------

    def load_catalog(self, slot: Slot) -> Catalog:
        """The catalog of one generation as last committed, with its position (read in one
        transaction)."""
        with self.db.transaction(commit=False) as c:
            c.execute(
                self.db.sql("SELECT position, size FROM view_tracking WHERE name=?"),
                (slot.tracking,),
            )
            row = c.fetchone()
            c.execute(f"SELECT doc FROM {slot.table('view_tools')}")  # noqa: S608 - our names
            tools = [ToolState.from_document(orjson.loads(r["doc"])) for r in c.fetchall()]
            c.execute(f"SELECT doc FROM {slot.table('view_comparisons')}")  # noqa: S608 - our names
            comparisons = [
                ComparisonState.from_document(orjson.loads(r["doc"])) for r in c.fetchall()
            ]
            corrections_table = slot.table("view_corrections")
            c.execute(
                f"SELECT doc FROM {corrections_table} WHERE position IN "  # noqa: S608 - our names
                f"(SELECT MAX(position) FROM {corrections_table} GROUP BY tool)"
            )
            corrections = [orjson.loads(r["doc"]) for r in c.fetchall()]
        return Catalog(
            tools={t.slug: t for t in tools},
            comparisons={k.key: k for k in comparisons},
            corrections={entry["tool"]: entry for entry in corrections},
            position=int(row["position"]) if row else 0,
            size=int(row["size"]) if row else 0,
        )

    def commit_catalog(
        self, slot: Slot, expected: int, catalog: Catalog, tails: PointTails | None = None
    ) -> dict[str, bytes]:
        """Write what changed in `catalog` into `slot`'s tables and move its position from
        `expected` to the catalog's, atomically; returns the tool documents written. `tails`:
        the last timeline rows of `slot` as its one writer last committed them, kept up to
        date (without it, they are read from the table)."""
        tails = PointTails() if tails is None else tails
        batch = catalog.drain()
        documents = [tool.document() for tool in batch.tools]
        tools = {doc["slug"]: orjson.dumps(doc) for doc in documents}
        t = slot.table
        seq = tails.changes
        with self.db.transaction(commit=True) as c:
            self.generations.advance(
                c, self.tracking, slot, expected, catalog.position, catalog.size
            )
            upsert_tool = self.db.sql(
                f"INSERT INTO {t('view_tools')} (slug, position, listed_at, category, status, "  # noqa: S608 - our names
                "panel_pct, community_pct, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (slug) DO UPDATE SET position=excluded.position, "
                "category=excluded.category, status=excluded.status, "
                "panel_pct=excluded.panel_pct, community_pct=excluded.community_pct, "
                "doc=excluded.doc"
            )
            # A tool that only ballots changed in this batch was listed by an earlier one, and
            # only its community score and position moved: updating just those columns leaves
            # the other sort indexes' pages alone (SQLite rewrites every index on a column
            # the statement sets), which is most of what a commit touching many tools writes.
            edited = {slug for slug, _, _ in batch.versions}
            columns = [(doc, tool_columns(doc)) for doc in documents]
            c.executemany(
                upsert_tool,
                [
                    (doc["slug"], doc["position"], *found, tools[doc["slug"]])
                    for doc, found in columns
                    if doc["slug"] in edited
                ],
            )
            # Its community score only when it moved from what this writer last committed
            # (tails.scores), for the same reason: two more indexes.
            scores = {doc["slug"]: found.community_pct for doc, found in columns}
            ballots_only = [(doc, found) for doc, found in columns if doc["slug"] not in edited]
            c.executemany(
                self.db.sql(
                    f"UPDATE {t('view_tools')} SET position = ?, community_pct = ?, doc = ? "  # noqa: S608 - our names
                    "WHERE slug = ?"
                ),
                [
                    (doc["position"], found.community_pct, tools[doc["slug"]], doc["slug"])
                    for doc, found in ballots_only
                    if tails.scores.get(doc["slug"]) != found.community_pct
                ],
            )
            c.executemany(
                self.db.sql(
                    f"UPDATE {t('view_tools')} SET position = ?, doc = ? WHERE slug = ?"  # noqa: S608 - our names
                ),
                [
                    (doc["position"], tools[doc["slug"]], doc["slug"])
                    for doc, found in ballots_only
                    if tails.scores.get(doc["slug"]) == found.community_pct
                ],
            )
            if tools:  # the ring's row of this commit (changes.py): what pollers read
                seq = (last_seq(c, t(CHANGES)) if seq is None else seq) + 1
                c.execute(
                    self.db.sql(record_sql(t(CHANGES))), record_values(seq, catalog.position, tools)
                )
            upsert_comparison = self.db.sql(
                f"INSERT INTO {t('view_comparisons')} (key, position, published_at, status, "  # noqa: S608 - our names
                "left_tool, right_tool, doc) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO "
                "UPDATE SET position=excluded.position, published_at=excluded.published_at, "
                "status=excluded.status, doc=excluded.doc"
            )
            c.executemany(
                upsert_comparison,
                [
                    (
                        k.key,
                        k.position,
                        sortable(k.published_at),
                        k.status,
                        k.left,
                        k.right,
                        orjson.dumps(k.document()),
                    )
                    for k in batch.comparisons
                ],
            )
            insert_history = self.db.sql(
                f"INSERT INTO {t('view_verdict_history')} (position, tool, seat, doc) "  # noqa: S608 - our names
                "VALUES (?, ?, ?, ?)"
            )
            c.executemany(
                insert_history,
                [(h["position"], h["tool"], h["seat"], orjson.dumps(h)) for h in batch.history],
            )
            upsert_correction = self.db.sql(
                f"INSERT INTO {t('view_corrections')} (position, tool, doc) VALUES (?, ?, ?) "  # noqa: S608 - our names
                "ON CONFLICT (position) DO UPDATE SET doc=excluded.doc"
            )
            c.executemany(
                upsert_correction,
                [(e["position"], e["tool"], orjson.dumps(e)) for e in batch.corrections],
            )
            left = self._append_points(c, t("view_tool_points"), batch.timeline, tails)
            insert_version = self.db.sql(
                f"INSERT INTO {t('view_tool_versions')} (tool, size, doc) VALUES (?, ?, ?)"  # noqa: S608 - our names
            )
            c.executemany(
                insert_version, [(t, n, orjson.dumps(doc)) for t, n, doc in batch.versions]
            )
            insert_action = self.db.sql(
                f"INSERT INTO {t('view_actions')} (actor, position, doc) VALUES (?, ?, ?)"  # noqa: S608 - our names
            )
            c.executemany(
                insert_action, [(a["actor"], a["position"], orjson.dumps(a)) for a in batch.actions]
            )
        tails.commit(left, scores)
        tails.changes = seq
        return tools

    def _append_points(
        self, c: Any, table: str, timeline: Mapping[str, list[Point]], tails: PointTails
    ) -> dict[str, Row | None]:
        """Write each tool's new timeline points: its last row topped up, then new rows, each
        row once, from the last rows `tails` holds (those it does not hold read in one
        statement, once). Returns what `tails` takes once the transaction commits."""
        unknown = tails.unknown(timeline)
        for i in range(0, len(unknown), TAIL_READS):
            chunk = unknown[i : i + TAIL_READS]
            c.execute(
                self.db.sql(
                    f"SELECT tool, first_size, last_size, count, min_at, max_at, points "  # noqa: S608 - our names
                    f"FROM {table} AS r WHERE tool IN ({', '.join('?' * len(chunk))}) "
                    f"AND first_size = (SELECT MAX(first_size) FROM {table} WHERE tool = r.tool)"
                ),
                chunk,
            )
            tails.found(chunk, c.fetchall())
        rows, left = tails.pack(timeline)
        c.executemany(
            self.db.sql(
                f"INSERT INTO {table} "  # noqa: S608 - our names
                "(tool, first_size, last_size, count, min_at, max_at, points) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tool, first_size) DO UPDATE SET "
                "last_size=excluded.last_size, count=excluded.count, min_at=excluded.min_at, "
                "max_at=excluded.max_at, points=excluded.points"
            ),
            [row.values() for row in rows],
        )
        return left

    def reset(self, slot: Slot) -> None:
        """Empty one generation's tables and put its position back at the start of the log."""
        with self.db.transaction(commit=True) as c:
            self._empty(c, slot)

    def _empty(self, c: Any, slot: Slot) -> None:
        for table in CATALOG_TABLES:
            c.execute(f"DELETE FROM {slot.table(table)}")  # noqa: S608 - fixed names
        self.tracking.restart(c, slot.tracking)

    # -- queries ----------------------------------------------------------------------------

    def tool_documents(self, name: str, slugs: Sequence[str] | None = None) -> Documents:
        """Documents of the given tools (all, newest first, when None) and the position they
        reflect, read in ONE statement so every document comes from the same committed batch."""
        on = "TRUE" if slugs is None else f"t.slug IN ({', '.join('?' * len(slugs))})"
        return self._documents_at(
            name, f"view_tools t ON {on} ORDER BY t.listed_at DESC, t.slug", slugs or ()
        )

    def tool_changes(self, name: str, after: int | None) -> ToolChanges:
        """The tool documents written past position `after` (every one when None), by slug,
        with the serving generation and the position and size they reflect, read in ONE
        transaction (one snapshot): the slugs come from the change ring (changes.py), the
        documents by primary key, so a poll costs what changed, not the catalog's size. When
        the ring cannot prove it holds every commit past `after`, every document is read. Not
        an index on view_tools.position, which every commit moved: no ballot-only update was
        HOT on PostgreSQL (bloat, with autovacuum off), ~22 pages a commit on SQLite."""
        head = (
            "SELECT g.serving AS serving, k.position AS at, k.size AS size, r.seq AS seq, "  # noqa: S608 - literals
            "r.slugs AS slugs FROM view_generations g "
            "LEFT JOIN view_tracking k ON k.name = g.name "
            f"LEFT JOIN ({ring_sql(CHANGES)}) AS r ON TRUE WHERE g.name = ?"
        )
        with self.db.transaction(commit=False) as c:
            c.execute(self.db.sql(head), (after or 0, after or 0, name))
            rows = c.fetchall()
            if not rows:
                return ToolChanges(0, 0, 0, {})
            first = rows[0]
            slugs = None if after is None else changed_slugs(rows)
            if slugs is None:
                c.execute("SELECT slug, doc FROM view_tools")
                found = c.fetchall()
            else:
                found = []
                ordered = sorted(slugs)
                for i in range(0, len(ordered), DOCUMENT_READS):
                    chunk = ordered[i : i + DOCUMENT_READS]
                    c.execute(self.db.sql(documents_sql(len(chunk))), chunk)
                    found += c.fetchall()
        return ToolChanges(
            int(first["serving"]),
            int(first["at"] or 0),
            int(first["size"] or 0),
            {r["slug"]: bytes(r["doc"]) for r in found},
        )

    def verdict_history(self, name: str, tool: str, seat: str) -> Documents:
        """Every version of one seat's verdict, oldest first."""
        return self._documents_at(
            name,
            "view_verdict_history t ON t.tool = ? AND t.seat = ? ORDER BY t.position",
            (tool, seat),
        )

    def actions(self, name: str, actor: str, before: int, limit: int) -> Documents:
        """`actor`'s actions at positions below `before`, newest first, at most `limit`: one
        range of the (actor, position) key."""
        return self._documents_at(
            name,
            "view_actions t ON t.actor = ? AND t.position < ? "
            f"ORDER BY t.position DESC LIMIT {int(limit)}",
            (actor, before),
        )

    def tool_documents_page(self, name: str, offset: int, limit: int) -> Documents:
        """One page of every tool (delisted too), newest listed first."""
        return self._documents_at(
            name,
            "view_tools t ON TRUE ORDER BY t.listed_at DESC, t.slug "
            f"LIMIT {int(limit)} OFFSET {int(offset)}",
            (),
        )

    def listed_slugs(self) -> list[str]:
        """The slug of every listed tool (no documents): what a ballot may be cast on."""
        rows = self.db.fetch("SELECT slug FROM view_tools WHERE status = 'listed' ORDER BY slug")
        return [r["slug"] for r in rows]

    def comparison_documents(self, name: str) -> Documents:
        """Every comparison (withdrawn ones too, marked so), newest first, with the position."""
        return self._documents_at(
            name, "view_comparisons t ON TRUE ORDER BY t.published_at DESC, t.key", ()
        )

    def tool_timeline(
        self, name: str, slug: str, after: int = 0, limit: int = 100_000
    ) -> Documents:
        """The tool's timeline points with size > `after`, oldest first, at most `limit`."""
        rows = int(limit) // POINTS_PER_ROW + 2
        found = self._documents_at(
            name,
            "view_tool_points t ON t.tool = ? AND t.last_size > ? "
            f"ORDER BY t.first_size LIMIT {rows}",
            (slug, after),
            "points",
        )
        points = [p for packed in found.docs for p in orjson.loads(packed) if p[0] >= after]
        docs = [orjson.dumps(point_document(slug, p)) for p in points[: max(0, limit)]]
        return Documents(found.position, found.size, docs)

    def tool_points(self, name: str, slug: str, size: int) -> Iterator[dict[str, Any]]:
        """The tool's timeline points up to log size `size`, oldest first, read page by page."""
        after = 0
        while page := self.tool_timeline(name, slug, after, 10_000).docs:
            for point in map(orjson.loads, page):
                if point["size"] > size:
                    return
                yield point
                after = point["size"]

    def tool_as_of(self, slug: str, size: int) -> dict[str, Any] | None:
        """The tool's document as it stood after the first `size` events (None: not yet listed).
        Two index look-ups, however long the log: its last editorial version and the row of
        timeline points holding its last point at that size."""
        with self.db.transaction(commit=False) as c:
            c.execute(
                self.db.sql(
                    "SELECT points FROM view_tool_points WHERE tool = ? AND first_size <= ? "
                    "ORDER BY first_size DESC LIMIT 1"
                ),
                (slug, size),
            )
            row = c.fetchone()
            if row is None:
                return None
            packed = [p for p in orjson.loads(row["points"]) if p[0] < size]
            return self._document_at(c, slug, packed[-1])

    def tool_at_time(self, slug: str, at: str) -> dict[str, Any] | None:
        """The tool's document after the last event on it recorded at or before `at` (the
        latest time, then the largest size). Candidates: the tool's last row (by its key: it
        may still take points, so the index on times leaves it out), the full row with the
        latest `max_at` at or before `at` (one index look-up), and the full rows whose span of
        times holds `at` (timestamps follow log order closely, so these are few; finding them
        walks the covering index entries of the rows after `at`, never the rows themselves)."""
        bound = sortable(at)
        with self.db.transaction(commit=False) as c:
            c.execute(
                self.db.sql(
                    "SELECT points FROM view_tool_points WHERE tool = ? AND max_at > ? "  # noqa: S608 - literals
                    f"AND min_at <= ? AND {FULL_ROW} UNION ALL SELECT points FROM (SELECT points "
                    f"FROM view_tool_points WHERE tool = ? AND max_at <= ? AND {FULL_ROW} "
                    "ORDER BY max_at DESC, first_size DESC LIMIT 1) AS latest "
                    "UNION ALL SELECT points FROM (SELECT points FROM view_tool_points "
                    "WHERE tool = ? ORDER BY first_size DESC LIMIT 1) AS last"
                ),
                (slug, bound, bound, slug, bound, slug),
            )
            candidates = [
                (moment, p[0], p)
                for row in c.fetchall()
                for p in orjson.loads(row["points"])
                if (moment := sortable(p[2])) <= bound
            ]
            if not candidates:
                return None
            return self._document_at(c, slug, max(candidates)[2])

    def _document_at(self, c: Any, slug: str, packed: Point) -> dict[str, Any]:
        point = point_document(slug, packed)
        return document_as_of(tool_version(self.db, c, slug, point["size"]), point)

    def _documents_at(
        self, name: str, join: str, params: Sequence[Any], column: str = "doc"
    ) -> Documents:
        """`join` is one of this class's literal clauses, `column` a literal column name of its
        table `t`; values always travel as parameters."""
        statement = (
            f"SELECT k.position AS at, k.size AS size, t.{column} AS doc "  # noqa: S608 - literals
            "FROM (SELECT CAST(? AS TEXT) AS name) AS q "
            "LEFT JOIN view_tracking k ON k.name = q.name LEFT JOIN " + join
        )
        rows = self.db.fetch(statement, (name, *params))
        return Documents(
            int(rows[0]["at"] or 0),
            int(rows[0]["size"] or 0),
            [bytes(r["doc"]) for r in rows if r["doc"] is not None],
        )

    # -- pages ------------------------------------------------------------------------------
    # The HTML pages (api/site/pages.py) read several kinds of document per page; each method reads
    # them in ONE statement, so a page shows one committed log prefix and can say which.

    def tool_page(self, name: str, slug: str, points: int) -> dict[str, Documents]:
        """One tool, every version of its verdicts, and its latest `points` timeline points;
        history and points newest first."""
        found = self._kinds_at(
            name,
            ("tool", "history", "point"),
            "SELECT 'tool' AS kind, '' AS sort, 0 AS n, slug AS tie, doc "
            "FROM view_tools WHERE slug = ? "
            "UNION ALL SELECT 'history', '', position, seat, doc "
            "FROM view_verdict_history WHERE tool = ? "
            "UNION ALL SELECT * FROM (SELECT 'point' AS kind, '' AS sort, first_size AS n, "
            "tool AS tie, points AS doc FROM view_tool_points WHERE tool = ? "
            "ORDER BY first_size DESC LIMIT ?) AS p",
            (slug, slug, slug, max(0, points) // POINTS_PER_ROW + 2),
        )
        rows = found["point"]
        packed = [p for row in reversed(rows.docs) for p in orjson.loads(row)]
        latest = packed[::-1][: max(0, points)]
        docs = [orjson.dumps(point_document(slug, p)) for p in latest]
        found["point"] = Documents(rows.position, rows.size, docs)
        return found

    def feed_page(self, name: str, entries: int) -> dict[str, Documents]:
        """The latest `entries` verdict changes, corrections of the vote (moderation requests)
        and published comparisons (each newest first), and the tools they name, by slug."""
        history = (
            "SELECT 'history' AS kind, '' AS sort, position AS n, tool AS tie, doc "
            "FROM view_verdict_history ORDER BY position DESC LIMIT ?"
        )
        compared = _ListQuery(COMPARISONS, Order.NEWEST, None, None, entries, None, False)
        inner, params = compared.inner("comparison", ", left_tool, right_tool")
        corrections = (
            "SELECT 'correction' AS kind, '' AS sort, position AS n, tool AS tie, doc "
            "FROM view_corrections ORDER BY position DESC LIMIT ?"
        )
        union = (
            f"SELECT * FROM ({history}) AS h UNION ALL SELECT * FROM ({corrections}) AS m "  # noqa: S608 - literals
            f"UNION ALL {compared.sql('comparison')[0]} "
            "UNION ALL SELECT 'tool', '', 0, slug, doc FROM view_tools WHERE slug IN ("
            f"SELECT tie FROM ({history}) AS th UNION SELECT tie FROM ({corrections}) AS tm "
            f"UNION SELECT left_tool FROM ({inner}) AS tl "
            f"UNION SELECT right_tool FROM ({inner}) AS tr)"
        )
        rows = self._rows_at(
            name, union, [entries, entries, *params, entries, entries, *params, *params]
        )
        pages = _pages(
            rows, ["tool", "comparison", "history", "correction"], {"comparison": compared}
        )
        return {kind: page.documents() for kind, page in pages.items()}

    def tools_page(
        self,
        name: str,
        order: Order = Order.NEWEST,
        *,
        after: Key | None = None,
        before: Key | None = None,
        limit: int = 100,
        category: str | None = None,
        include_delisted: bool = False,
        budget: int = PAGE_BYTES,
    ) -> Page:
        """At most `limit` tools in `order`, after the key `after` (or before `before`), read
        from the order's index, and at most `budget` bytes of documents (one at least)."""
        query = _ListQuery(TOOLS, order, after, before, limit, category, include_delisted)
        return self._page_of(name, query, budget)

    def comparisons_page(
        self,
        name: str,
        *,
        after: Key | None = None,
        before: Key | None = None,
        limit: int = 100,
        include_withdrawn: bool = False,
        budget: int = PAGE_BYTES,
    ) -> Page:
        """At most `limit` comparisons, newest published first, after (or before) a key."""
        query = _ListQuery(COMPARISONS, Order.NEWEST, after, before, limit, None, include_withdrawn)
        return self._page_of(name, query, budget)

    def front_page(
        self,
        name: str,
        *,
        shown: int,
        category: str | None = None,
        after: Key | None = None,
        before: Key | None = None,
    ) -> dict[str, Page]:
        """For the home page, in one statement: `shown` tools newest first (after or before a
        key), the `shown` top tools by panel score, optionally of one category; and, on the first
        page of every category, the `shown` newest comparisons with the tools they name."""
        newest = _ListQuery(TOOLS, Order.NEWEST, after, before, shown, category, False)
        top = _ListQuery(TOOLS, Order.PANEL, None, None, shown, category, False)
        parts = [newest.sql("newest"), top.sql("top")]
        kinds = ["newest", "top", "comparison", "tool"]
        queries = {"newest": newest, "top": top}
        if category is None and after is None and before is None:
            compared = _ListQuery(COMPARISONS, Order.NEWEST, None, None, shown, None, False)
            inner, params = compared.inner("comparison", ", left_tool, right_tool")
            named = (
                "SELECT 'tool' AS kind, '' AS sort, 0 AS n, slug AS tie, doc FROM view_tools "  # noqa: S608 - literals
                f"WHERE slug IN (SELECT left_tool FROM ({inner}) AS tl "
                f"UNION SELECT right_tool FROM ({inner}) AS tr)"
            )
            parts += [compared.sql("comparison"), (named, [*params, *params])]
            queries["comparison"] = compared
        union = " UNION ALL ".join(sql for sql, _ in parts)
        rows = self._rows_at(name, union, [p for _, params in parts for p in params])
        return _pages(rows, kinds, queries, PAGE_BYTES)

    def _page_of(self, name: str, query: _ListQuery, budget: int) -> Page:
        """The one page `query` asks for, in one statement with the view's position."""
        union, params = query.sql("page")
        rows = self._rows_at(name, union, params)
        return _pages(rows, ["page"], {"page": query}, budget)["page"]

    def _rows_at(self, name: str, union: str, params: Sequence[Any]) -> list[Any]:
        """`union` is built from this module's literal clauses, yielding (kind, sort, n, tie,
        doc); values always travel as parameters. Rows by kind, each kind in its order."""
        statement = (
            "SELECT k.position AS at, k.size AS size, t.kind AS kind, t.sort AS sort, t.n AS n, "  # noqa: S608 - literals
            "t.tie AS tie, t.doc AS doc FROM (SELECT CAST(? AS TEXT) AS name) AS q "
            "LEFT JOIN view_tracking k ON k.name = q.name LEFT JOIN (" + union + ") AS t ON TRUE "
            "ORDER BY t.kind, t.sort DESC, t.n DESC, t.tie"
        )
        return self.db.fetch(statement, (name, *params))

    def _kinds_at(
        self, name: str, kinds: Sequence[str], union: str, params: Sequence[Any]
    ) -> dict[str, Documents]:
        rows = self._rows_at(name, union, params)
        return {kind: page.documents() for kind, page in _pages(rows, kinds).items()}


@dataclass(frozen=True)
class _Listing:
    table: str
    tie: str
    visible: str
    """The condition of rows a list shows unless asked for hidden ones too."""


TOOLS = _Listing("view_tools", "slug", "status = 'listed'")
COMPARISONS = _Listing("view_comparisons", "key", "status = 'published'")
_COLUMNS = {TOOLS: SORT_COLUMNS, COMPARISONS: {Order.NEWEST: "published_at"}}


@dataclass(frozen=True)
class _ListQuery:
    """One keyset page of a listing, as a subquery of literal clauses and its parameters."""

    listing: _Listing
    order: Order
    after: Key | None
    before: Key | None
    limit: int
    category: str | None
    hidden_too: bool

    @property
    def forward(self) -> bool:
        return self.before is None

    def key(self, row: Any) -> Key:
        value = row["sort"] if self.order is Order.NEWEST else int(row["n"])
        return value, row["tie"]

    def sql(self, kind: str) -> tuple[str, list[Any]]:
        """The page as rows of `_rows_at`."""
        inner, params = self.inner(kind)
        return f"SELECT kind, sort, n, tie, doc FROM ({inner}) AS {kind}", params  # noqa: S608 - literals

    def inner(self, kind: str, also: str = "") -> tuple[str, list[Any]]:
        """The page's rows, with the columns `also` too; reads limit + 1 rows: the one past
        the page says whether there is more."""
        column, tie = _COLUMNS[self.listing][self.order], self.listing.tie
        where: list[str] = [] if self.hidden_too else [self.listing.visible]
        params: list[Any] = []
        if self.category is not None:
            where.append("category = ?")
            params.append(self.category)
        key = self.after if self.forward else self.before
        if key is not None:
            less, more = ("<", ">") if self.forward else (">", "<")
            where.append(f"{column} {less}= ? AND ({column} {less} ? OR {tie} {more} ?)")
            params += [key[0], key[0], key[1]]
        ordered = f"{column} DESC, {tie}" if self.forward else f"{column}, {tie} DESC"
        sort, n = (column, "0") if self.order is Order.NEWEST else ("''", column)
        sql = (
            f"SELECT '{kind}' AS kind, {sort} AS sort, {n} AS n, {tie} AS tie, doc{also} "  # noqa: S608 - literals
            f"FROM {self.listing.table} WHERE {' AND '.join(where) or 'TRUE'} "
            f"ORDER BY {ordered} LIMIT ?"
        )
        return sql, [*params, max(0, self.limit) + 1]


class Page(NamedTuple):
    """Documents in their list's order, each one's key, and whether the list goes on past the
    page in the direction it was read (after the last, or before the first)."""

    position: int
    size: int
    docs: list[bytes]
    keys: list[Key]
    more: bool

    def documents(self) -> Documents:
        return Documents(self.position, self.size, self.docs)


def _pages(
    rows: Sequence[Any],
    kinds: Sequence[str],
    queries: Mapping[str, _ListQuery] | None = None,
    budget: int = PAGE_BYTES,
) -> dict[str, Page]:
    """Rows of `_rows_at` by kind; a kind read by a query is cut to its limit and `budget`,
    from the end it was read from."""
    at, size = int(rows[0]["at"] or 0), int(rows[0]["size"] or 0)
    found: dict[str, list[Any]] = {kind: [] for kind in kinds}
    for r in rows:
        if r["doc"] is not None:
            found[r["kind"]].append(r)
    pages = {}
    for kind, kept in found.items():
        query = (queries or {}).get(kind)
        if query is None:
            pages[kind] = Page(at, size, [bytes(r["doc"]) for r in kept], [], False)
            continue
        near = kept if query.forward else kept[::-1]
        taken: list[tuple[bytes, Key]] = []
        used = 0
        for r in near[: query.limit]:
            doc = bytes(r["doc"])
            if taken and used + len(doc) + 1 > budget:
                break
            taken.append((doc, query.key(r)))
            used += len(doc) + 1
        more = len(taken) < len(near)
        if not query.forward:
            taken.reverse()
        pages[kind] = Page(at, size, [d for d, _ in taken], [k for _, k in taken], more)
    return pages


class Documents(NamedTuple):
    """View documents (JSON bytes) and the projection's position and size they reflect."""

    position: int
    size: int
    docs: list[bytes]


class ToolChanges(NamedTuple):
    """Tool documents by slug, and the serving generation, position and size they reflect."""

    generation: int
    position: int
    size: int
    tools: dict[str, bytes]


@dataclass(frozen=True)
class CatalogSnapshot:
    """Every tool document as this process's follower last committed it. Reads served from it
    cost no query and no thread; it is a committed state, and says which (`position`, `size`)."""

    position: int
    size: int
    tools: Mapping[str, bytes]


class CatalogProjection:
    """The catalog as a followed projection: fold in memory, commit changes with the position,
    then publish the committed tool documents as an immutable snapshot. Without a `slot` it
    follows the serving generation (and moves to the next one when a rebuild switches);
    `beside()` gives the projection that builds a new generation for a rebuild."""

    name = CATALOG

    def __init__(self, views: ViewStore, slot: Slot | None = None) -> None:
        self.views = views
        self.follows_serving = slot is None
        self.slot = slot or views.generations.serving(CATALOG)
        self.reload()

    @property
    def position(self) -> int:
        return self.catalog.position

    def apply_all(self, events: Sequence[LedgerEvent]) -> None:
        self.catalog.apply_all(events)

    def commit(self, expected: int) -> None:
        written = self.views.commit_catalog(self.slot, expected, self.catalog, self.tails)
        self._publish({**self.snapshot.tools, **written})

    def caught_up(self) -> None:
        pass

    def reload(self) -> None:
        if self.follows_serving:
            self.slot = self.views.generations.serving(CATALOG)
        self.catalog = self.views.load_catalog(self.slot)
        self.tails = PointTails()
        """The slot's last timeline rows as this projection committed them (its own writes)."""
        self._publish({s: orjson.dumps(t.document()) for s, t in self.catalog.tools.items()})

    def moved(self) -> bool:
        return self.follows_serving and self.views.generations.moved(self.slot)

    def beside(self) -> CatalogBuild:
        """The projection of the generation a rebuild fills (resumed if one is under way for
        this version), beside the serving tables."""
        return CatalogBuild(self.views, self.views.generations.begin(self.views.layout))

    def check(self, log_end: Callable[[], int]) -> None:
        """Nothing to check before a switch: every catalog row is derived."""

    def switch(self) -> bool | None:
        """GenerationTable.switch of this (building) generation."""
        return self.views.generations.switch(self.views.layout, self.slot, lambda _: True)

    def abandon(self) -> None:
        self.views.generations.abandon(self.views.layout, self.slot)

    def sweep(self) -> None:
        """The janitor, for the generations a switch retired (GenerationTable.sweep_after)."""
        self.views.generations.sweep_after(self.views.layout)

    def _publish(self, tools: dict[str, bytes]) -> None:
        self.snapshot = CatalogSnapshot(self.catalog.position, self.catalog.size, tools)


BUILD_EVENTS_PER_TOOL = 128
"""A rebuild commits once it has folded this many events per tool since its last commit (or at
the end of the log). A commit writes every tool the events touched, each document and last
timeline row once, so committing per page made a rebuild's cost per event grow with the catalog
(issue 17: 109 µs an event at 5,000 tools, 14 µs at 6); per tool it stays a fixed share. So
between commits a build holds up to this many timeline points a tool (StagedTails, ~100 bytes
each): its memory is bounded per tool, not in all; it grows with the number of tools."""
BUILD_MOST_VERSIONS = 5000
"""... or once it holds this many editorial versions (whole documents, the bulk of what a
rebuild holds between commits: a catalog's first events list its tools and fill their panels)."""
STAGE_EVENTS_PER_TOOL = 8
"""Timeline points are moved into rows in memory (StagedTails.stage) once this many events per
tool have folded since the last move: each move costs something per tool it touches, so at
catalog size it waits for several points a tool rather than going page by page."""


class CatalogBuild(CatalogProjection):
    """The catalog projection filling a generation for a rebuild: its timeline rows are filled
    in memory as pages fold (StagedTails), it asks to commit only every BUILD_EVENTS_PER_TOOL
    events per tool (`due`), and it publishes no snapshot (nothing reads one of a generation
    being built; the projection that serves it reloads after the switch)."""

    tails: StagedTails
    committed: int
    """The catalog's position at its last commit (or load): what its tables hold."""
    committed_size: int
    """... and its size."""
    staged_size: int
    """... and when its timeline points last moved into rows."""

    def apply_all(self, events: Sequence[LedgerEvent]) -> None:
        catalog = self.catalog
        catalog.apply_all(events)
        if catalog.size - self.staged_size >= STAGE_EVENTS_PER_TOOL * max(1, len(catalog.tools)):
            catalog.new_timeline = self.tails.stage(catalog.new_timeline)
            self.staged_size = catalog.size

    def due(self) -> bool:
        """Whether what it folded since its last commit is worth a commit now."""
        folded = self.catalog.size - self.committed_size
        catalog = self.catalog
        return (
            folded >= BUILD_EVENTS_PER_TOOL * max(1, len(catalog.tools))
            or len(catalog.new_versions) >= BUILD_MOST_VERSIONS
        )

    def commit(self, expected: int) -> None:
        self.views.commit_catalog(self.slot, expected, self.catalog, self.tails)
        self.committed_size = self.staged_size = self.catalog.size
        self.committed = self.catalog.position

    def reload(self) -> None:
        self.catalog = self.views.load_catalog(self.slot)
        self.tails = StagedTails(fresh=self.catalog.size == 0)
        self.committed_size = self.staged_size = self.catalog.size
        self.committed = self.catalog.position
        self._publish({})
