"""Deterministic aggregate ids: the same name always maps to the same stream, so a second
creation collides at version 1 inside the store instead of racing a check-then-insert."""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID, uuid5

NAMESPACE = UUID("6f1c7c1e-2a55-4d8e-9a43-0f7b1d1e5a10")


@lru_cache(maxsize=1024)
def tool_id(slug: str) -> UUID:
    return uuid5(NAMESPACE, f"tool:{slug}")


def panel_id(slug: str) -> UUID:
    return uuid5(NAMESPACE, f"panel:{slug}")


@lru_cache(maxsize=8192)
def ballot_id(slug: str, voter: str) -> UUID:
    """Cached: the vote writer and `Ballot.cast` ask for the same id of each vote in turn."""
    return uuid5(NAMESPACE, f"ballot:{slug}:{voter}")


def comparison_id(left: str, right: str) -> UUID:
    """Order-free: "a vs b" and "b vs a" are one comparison."""
    first, second = sorted((left, right))
    return uuid5(NAMESPACE, f"comparison:{first}:{second}")
