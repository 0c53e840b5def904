"""Keyset pages over the catalog: the orders a list can be read in, each row's sort key, and the
opaque cursor that says where the next page starts.

A page is read from an index in the key's order, starting just after the cursor's key, so it
costs the same on the first page and the thousandth, whatever the catalog's size. Ties on the
sort value are broken by slug (or comparison key), ascending, so every order is total."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from domain.errors import InvalidInput
from projections.catalog.sortable import sortable


class Order(StrEnum):
    NEWEST = "newest"
    """Newest listed (published, for comparisons) first."""
    PANEL = "panel"
    """Highest panel ship % first; tools without a verdict last."""
    COMMUNITY = "community"
    """Highest community ship % first; tools without a vote last."""


SORT_COLUMNS: Mapping[Order, str] = {
    Order.NEWEST: "listed_at",
    Order.PANEL: "panel_pct",
    Order.COMMUNITY: "community_pct",
}
"""The view_tools column (and index) each order reads."""
NO_SCORE = -1
"""The stored score of a tool without a verdict (panel) or a vote (community): below every %."""
MAX_CURSOR = 512
MAX_TIMESTAMP = 40
MAX_PCT = 100
_TIE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}|[0-9a-f-]{36}")
"""A slug (tools) or a comparison key (a UUID)."""

Key = tuple[str | int, str]
"""(sort value, tie): a row's place in its order."""


class ToolColumns(NamedTuple):
    """What view_tools stores beside a tool's document, to filter and sort without decoding it."""

    listed_at: str
    category: str
    status: str
    panel_pct: int
    community_pct: int


def tool_columns(doc: Mapping[str, Any]) -> ToolColumns:
    panel, community = doc["panel"]["ship_pct"], doc["community"]["ship_pct"]
    return ToolColumns(
        sortable(doc["listed_at"]),
        doc["category"],
        doc["status"],
        NO_SCORE if panel is None else panel,
        NO_SCORE if community is None else community,
    )


def sort_key(order: Order, doc: Mapping[str, Any]) -> Key:
    """A tool document's key in `order` (pages run from the greatest value down, ties by slug)."""
    columns = tool_columns(doc)
    value: str | int = getattr(columns, SORT_COLUMNS[order])
    return value, doc["slug"]


def comparison_key(doc: Mapping[str, Any]) -> Key:
    return sortable(doc["published_at"]), doc["key"]


def encode_cursor(scope: str, key: Key) -> str:
    """`scope` names the list and its order (e.g. "tools:panel"): a cursor is refused elsewhere."""
    raw = orjson.dumps([scope, key[0], key[1]])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(scope: str, cursor: str, *, field: str = "after") -> Key:
    """The key a cursor of `scope` names; InvalidInput naming `field` for anything else. An
    edited cursor that still decodes to a key of its list merely starts the page elsewhere:
    cursors grant nothing, so they carry no signature."""
    found = cursor_fields(cursor, field)
    if found[0] != scope:
        raise InvalidInput(field, "is a cursor of another list or order")
    _, value, tie = found
    if scope.endswith(":" + Order.NEWEST):
        ok = isinstance(value, str) and 0 < len(value) <= MAX_TIMESTAMP
    else:
        ok = type(value) is int and NO_SCORE <= value <= MAX_PCT
    if not ok or not isinstance(tie, str) or not _TIE.fullmatch(tie):
        raise InvalidInput(field, "is not a cursor this list gave out")
    return value, tie


def cursor_fields(cursor: str, field: str) -> list[Any]:
    """[scope, value, tie] of a cursor encode_cursor made; InvalidInput naming `field` else."""
    if len(cursor) > MAX_CURSOR or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise InvalidInput(field, "is not a cursor this list gave out")
    try:
        found = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise InvalidInput(field, "is not a cursor this list gave out") from None
    if not isinstance(found, list) or len(found) != 3:  # [scope, value, tie]
        raise InvalidInput(field, "is not a cursor this list gave out")
    return found
