"""Tool listings: given events, when a command, then the new events (or a refusal)."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput, ToolDelisted
from domain.ids import tool_id
from domain.tool import Tool

LISTING = {
    "name": "Example",
    "category": "Developer Tools",
    "tagline": "Does one thing",
    "description": "A tool used by the tests.",
    "pricing": "Free",
}


def listed() -> Tool:
    tool = Tool.list("example", LISTING, "editor:ann")
    tool.collect_events()
    return tool


def test_listing_records_every_field_and_the_actor() -> None:
    """Listing emits one Listed event with the listing and who did it, under the slug's id."""
    tool = Tool.list("example", LISTING, "editor:ann")
    [event] = tool.collect_events()
    assert isinstance(event, Tool.Listed)
    assert event.originator_id == tool_id("example")
    assert (event.tool, event.name, event.pricing, event.actor) == (
        "example",
        "Example",
        "Free",
        "editor:ann",
    )


@pytest.mark.parametrize("slug", ["", "Upper", "-lead", "a" * 65, "sp ace", "../etc", "é"])
def test_listing_refuses_bad_slugs(slug: str) -> None:
    """Slugs must match ^[a-z0-9][a-z0-9-]{0,63}$."""
    with pytest.raises(InvalidInput) as error:
        Tool.list(slug, LISTING, "editor:ann")
    assert error.value.field == "slug"


def test_listing_needs_every_field() -> None:
    """A listing without pricing is refused and names the missing field."""
    with pytest.raises(InvalidInput) as error:
        Tool.list("example", {k: v for k, v in LISTING.items() if k != "pricing"}, "editor:ann")
    assert error.value.field == "pricing"


def test_amendment_keeps_only_changed_fields_and_the_reason() -> None:
    """Given a listing, amending name and pricing (pricing unchanged) records only the name."""
    tool = listed()
    tool.amend({"name": "Example Pro", "pricing": "Free"}, "renamed upstream", "editor:bob")
    [event] = tool.collect_events()
    assert isinstance(event, Tool.ListingAmended)
    assert event.changes == {"name": "Example Pro"}
    assert (event.reason, event.actor) == ("renamed upstream", "editor:bob")
    assert tool.listing["name"] == "Example Pro"


def test_amendment_needs_a_reason_and_a_real_change() -> None:
    """No reason, an unknown field, or no effective change: refused, nothing emitted."""
    tool = listed()
    with pytest.raises(InvalidInput, match="reason"):
        tool.amend({"name": "Other"}, "  ", "editor:bob")
    with pytest.raises(InvalidInput, match="colour"):
        tool.amend({"colour": "red"}, "why", "editor:bob")
    with pytest.raises(InvalidInput, match="changes"):
        tool.amend({"name": "Example"}, "why", "editor:bob")
    assert tool.collect_events() == []


def test_delisted_tool_takes_no_more_changes() -> None:
    """Given a delisting, amending or delisting again is refused."""
    tool = listed()
    tool.delist("discontinued", "editor:bob")
    [event] = tool.collect_events()
    assert isinstance(event, Tool.Delisted)
    with pytest.raises(ToolDelisted):
        tool.amend({"name": "X"}, "why", "editor:bob")
    with pytest.raises(ToolDelisted):
        tool.delist("again", "editor:bob")


def test_text_is_normalised_and_bounded() -> None:
    """Texts are stripped and NFC-normalised; control characters and overlong texts refused."""
    tool = Tool.list("example", {**LISTING, "name": "  Cafe\u0301  "}, "editor:ann")
    assert tool.listing["name"] == "Caf\u00e9"
    with pytest.raises(InvalidInput, match="control"):
        Tool.list("example", {**LISTING, "name": "bad\x00name"}, "editor:ann")
    with pytest.raises(InvalidInput, match="at most"):
        Tool.list("example", {**LISTING, "tagline": "x" * 141}, "editor:ann")
