"""A tool's listing: what the site says a tool is, amended only with a reason, delisted for good."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from domain import rules
from domain.errors import InvalidInput, ToolDelisted
from domain.ids import tool_id


class Tool(Aggregate):
    class Listed(Aggregate.Created):
        tool: str
        name: str
        category: str
        tagline: str
        description: str
        pricing: str
        actor: str

    class ListingAmended(Aggregate.Event):
        tool: str
        changes: dict[str, str]
        reason: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            aggregate.listing = {**aggregate.listing, **self.changes}

    class Delisted(Aggregate.Event):
        tool: str
        reason: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            aggregate.delisted = True

    def __init__(
        self,
        tool: str,
        name: str,
        category: str,
        tagline: str,
        description: str,
        pricing: str,
        actor: str,
    ) -> None:
        self.slug = tool
        self.listing = {
            "name": name,
            "category": category,
            "tagline": tagline,
            "description": description,
            "pricing": pricing,
        }
        self.delisted = False

    @classmethod
    def list(cls, slug: str, listing: dict[str, str], actor: str) -> Tool:
        """List a new tool; every listing field is required."""
        rules.slug(slug)
        missing = [field for field in rules.LISTING_FIELDS if field not in listing]
        if missing:
            raise InvalidInput(missing[0], "is required")
        fields = rules.listing_changes(listing)
        return cls._create(
            cls.Listed, id=tool_id(slug), tool=slug, actor=rules.text("actor", actor), **fields
        )

    def amend(self, changes: dict[str, str], reason: str, actor: str) -> None:
        """Amend listing fields; fields that already hold the given value are left out."""
        self._require_listed()
        fields = rules.listing_changes(changes)
        effective = {k: v for k, v in fields.items() if self.listing[k] != v}
        if not effective:
            raise InvalidInput("changes", "every field already holds that value")
        self.trigger_event(
            self.ListingAmended,
            tool=self.slug,
            changes=effective,
            **rules.because(reason, actor),
        )

    def delist(self, reason: str, actor: str) -> None:
        self._require_listed()
        self.trigger_event(
            self.Delisted,
            tool=self.slug,
            **rules.because(reason, actor),
        )

    def _require_listed(self) -> None:
        if self.delisted:
            raise ToolDelisted(self.slug)
