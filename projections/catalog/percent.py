"""The one rounding rule for every published percentage."""

from __future__ import annotations


def share(part: int, total: int) -> int | None:
    """`part / total` as an integer percentage rounded half up; None when total is 0 ("—")."""
    if total <= 0:
        return None
    if not 0 <= part <= total:
        raise ValueError(f"part {part} outside 0..{total}")
    return (200 * part + total) // (2 * total)
