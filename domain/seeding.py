"""Load the demo data through the application service, as an editor would. Safe to run again:
whatever is already there is left alone, so a seed interrupted half-way can simply be re-run."""

from __future__ import annotations

from domain.application import Ledger
from domain.demo_data import COMPARISONS, TOOLS
from domain.errors import ComparisonAlreadyPublished, SeatAlreadyPublished, ToolAlreadyListed

SEED_ACTOR = "editor:seed"


def seed_demo(ledger: Ledger, actor: str = SEED_ACTOR) -> int:
    """Returns how many things were written (0 when the demo data was already complete)."""
    written = 0
    for tool in TOOLS:
        listing = {
            "name": tool.name,
            "category": tool.category,
            "tagline": tool.tagline,
            "description": tool.description,
            "pricing": tool.pricing,
        }
        try:
            ledger.list_tool(tool.slug, listing, actor)
            written += 1
        except ToolAlreadyListed:
            pass
        for v in tool.verdicts:
            try:
                ledger.publish_verdict(tool.slug, v.seat, v.reviewer, v.decision, v.text, actor)
                written += 1
            except SeatAlreadyPublished:
                pass
    for left, right in COMPARISONS:
        try:
            ledger.publish_comparison(left, right, actor)
            written += 1
        except ComparisonAlreadyPublished:
            pass
    return written
