"""The rounding rule every percentage uses."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.catalog.percent import share


@given(st.integers(1, 10**9).flatmap(lambda t: st.tuples(st.integers(0, t), st.just(t))))
def test_share_is_half_up_rounding_in_0_to_100(pair: tuple[int, int]) -> None:
    """share(p, t) equals Decimal half-up rounding of 100·p/t and stays in 0..100."""
    part, total = pair
    expected = int((Decimal(100 * part) / Decimal(total)).quantize(Decimal(1), ROUND_HALF_UP))
    assert share(part, total) == expected
    assert 0 <= expected <= 100


def test_published_examples_and_empty_tally() -> None:
    """3 of 4 is 75, 1 of 8 is 13 (12.5 rounds up), 2 of 3 is 67, nobody voted is None."""
    assert (share(3, 4), share(1, 8), share(2, 3), share(0, 0)) == (75, 13, 67, None)


def test_part_outside_total_is_a_bug() -> None:
    """A negative or excess count can only be a fold bug: refuse it loudly."""
    with pytest.raises(ValueError, match="outside"):
        share(5, 4)
