"""The Wilson score interval: how sure a vote share is, given how few votes stand behind it.

Pages show it beside the community figure so that "100 %" from one vote does not read like
"100 %" from a thousand. Pure and standard-library only."""

from __future__ import annotations

import math

Z95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal distribution."""


def wilson_interval(ship: int, total: int, z: float = Z95) -> tuple[float, float] | None:
    """(low, high) bounds of the ship share, in [0, 1]; None without votes. The bounds are
    clamped so they always contain the observed share, whatever floating point does at 0 and 1."""
    if total <= 0:
        return None
    if not 0 <= ship <= total:
        raise ValueError(f"ship {ship} outside 0..{total}")
    p = ship / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return min(max(0.0, centre - half), p), max(min(1.0, centre + half), p)


def percent_bounds(interval: tuple[float, float]) -> tuple[int, int]:
    """Whole percentages that enclose the interval: the low end rounded down, the high end up."""
    low, high = interval
    return math.floor(low * 100 + 1e-9), math.ceil(high * 100 - 1e-9)
