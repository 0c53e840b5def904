"""Small builders the tests share."""

from __future__ import annotations

from domain.application import Ledger

EDITOR = "editor:test"


def listing(slug: str) -> dict[str, str]:
    return {
        "name": slug.replace("-", " ").title(),
        "category": "Developer Tools",
        "tagline": f"{slug} in one line",
        "description": f"{slug} is a tool the tests list.",
        "pricing": "Free",
    }


def list_tools(ledger: Ledger, *slugs: str) -> None:
    for slug in slugs:
        ledger.list_tool(slug, listing(slug), EDITOR)
