"""Field rules shared by every use case, so the HTTP layer and the domain refuse the same input."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, Literal, cast

from domain.errors import InvalidInput

Decision = Literal["ship", "skip"]
DECISIONS: Final = ("ship", "skip")


class Surface(StrEnum):
    """Where a voter cast their first vote on a tool: the JSON API (its route or the vote lane,
    one surface to the voter) or the comparison pages' form."""

    API = "api"
    PAGE = "page"


MAX_SLUG_LENGTH: Final = 64
SLUG_PATTERN: Final = rf"^[a-z0-9][a-z0-9-]{{0,{MAX_SLUG_LENGTH - 1}}}$"
_SLUG = re.compile(SLUG_PATTERN)

LISTING_FIELDS: Final = ("name", "category", "tagline", "description", "pricing")
MAX_LENGTH: Final = {
    "name": 80,
    "category": 60,
    "tagline": 140,
    "description": 2000,
    "pricing": 40,
    "reviewer": 80,
    "text": 4000,
    "reason": 500,
    "rule": 200,
    "actor": 100,
}


def slug(value: str, field: str = "slug") -> str:
    """A slug names a tool in URLs and ids: lower-case ASCII, digits and dashes, at most 64."""
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise InvalidInput(field, f"must match {SLUG_PATTERN}")
    return value


def is_slug(value: str) -> bool:
    """Whether `value` passes `slug`: how pages tell a mistyped URL (404) from a tool."""
    return isinstance(value, str) and _SLUG.fullmatch(value) is not None


def seat(value: str) -> str:
    """Seats follow the slug rule: they appear in URLs too."""
    return slug(value, "seat")


DEFAULT_SEATS: Final = ("builder", "skeptic", "buyer", "futurist")
"""The panel's seats unless VERDICT_PANEL_SEATS says otherwise: the four the demo data fills."""


def panel_seat(value: str, seats: Collection[str]) -> str:
    """A seat a new verdict may be published in: one of the panel's configured `seats`, so a
    typo is refused rather than seating a fifth reviewer."""
    seat(value)
    if value not in seats:
        raise InvalidInput(
            "seat", f"{value!r} is not a seat of the panel; the seats are {', '.join(seats)}"
        )
    return value


def surface(value: str | None) -> str | None:
    """A named surface as the plain string stored (the transcoder takes no str subclass), or
    None (not recorded)."""
    if value is None:
        return None
    try:
        return Surface(value).value
    except ValueError:
        raise InvalidInput("surface", "must be 'api' or 'page'") from None


def decision(value: str, field: str = "decision") -> Decision:
    if value not in DECISIONS:
        raise InvalidInput(field, "must be 'ship' or 'skip'")
    return cast(Decision, value)


_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
NOT_TEXT: Final = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}]")
"""What free text may not hold: control characters but tab and newline, surrogates, and the 66
noncharacters (U+FFFE, U+FFFF among them). XML 1.0, which the feed and the charts are written
in, cannot carry most of these at all; none of them is text a reader could see."""


def text(field: str, value: str, *, required: bool = True) -> str:
    """Free text: NFC-normalised, stripped, nothing in NOT_TEXT, bounded in length."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    value = unicodedata.normalize("NFC", value).strip()
    if required and not value:
        raise InvalidInput(field, "must not be empty")
    limit = MAX_LENGTH[field]
    if len(value) > limit:
        raise InvalidInput(field, f"must be at most {limit} characters")
    found = NOT_TEXT.search(value)
    if found:
        raise InvalidInput(
            field,
            f"must not contain control characters, surrogates or noncharacters "
            f"(U+{ord(found[0]):04X} at {found.start()})",
        )
    return value


def because(reason: str, actor: str) -> dict[str, str]:
    """The `reason` and `actor` fields of an event that corrects the record (an amendment, a
    retraction, a delisting, a withdrawal), checked in that order: who changed it, and why."""
    return {"reason": text("reason", reason), "actor": text("actor", actor)}


def instant(value: datetime, field: str = "at") -> datetime:
    """A moment as UTC (a naive one is taken as UTC already). The calendar holds years 1 to 9999,
    so a time whose UTC form falls outside them (9999-12-31T23:59:59-00:01) is refused."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(field, "is outside the years 1 to 9999 in UTC") from None


def listing_changes(changes: dict[str, str]) -> dict[str, str]:
    """An amendment names only known listing fields, each a valid text, and at least one."""
    if not changes:
        raise InvalidInput("changes", "name at least one listing field to amend")
    unknown = sorted(set(changes) - set(LISTING_FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], "is not a listing field")
    return {field: text(field, value) for field, value in changes.items()}
