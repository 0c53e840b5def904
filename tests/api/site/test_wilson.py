"""The Wilson interval shown beside every community figure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.site.wilson import percent_bounds, wilson_interval
from projections.catalog.percent import share

tallies = st.integers(1, 10**7).flatmap(lambda t: st.tuples(st.integers(0, t), st.just(t)))


@given(tallies)
def test_interval_lies_in_0_1_and_contains_the_observed_share(tally: tuple[int, int]) -> None:
    """0 <= low <= ship/total <= high <= 1 for every tally, even at 0 % and 100 %."""
    ship, total = tally
    interval = wilson_interval(ship, total)
    assert interval is not None
    low, high = interval
    assert 0.0 <= low <= ship / total <= high <= 1.0


@given(tallies)
def test_whole_percent_bounds_enclose_the_published_figure(tally: tuple[int, int]) -> None:
    """The shown bounds (low down, high up) always enclose the published, rounded percentage."""
    ship, total = tally
    interval = wilson_interval(ship, total)
    assert interval is not None
    low, high = percent_bounds(interval)
    published = share(ship, total)
    assert published is not None
    assert 0 <= low <= published <= high <= 100


@given(st.integers(0, 10**4), st.integers(1, 10**4))
def test_more_votes_never_widen_the_interval_at_the_same_share(ship: int, scale: int) -> None:
    """The same share from k times the votes gives an interval no wider: uncertainty shrinks."""
    total = ship + 1 + ship % 7
    one = wilson_interval(ship, total)
    many = wilson_interval(ship * (scale + 1), total * (scale + 1))
    assert one is not None and many is not None
    assert many[1] - many[0] <= one[1] - one[0] + 1e-12


def test_known_values_and_no_votes() -> None:
    """1 of 1 is 20.7-100 % (shown 20-100), 5 of 10 is 23.7-76.3 %; no votes, no interval."""
    assert percent_bounds(wilson_interval(1, 1) or (0, 0)) == (20, 100)
    low, high = wilson_interval(5, 10) or (0.0, 0.0)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson_interval(0, 0) is None


def test_impossible_tallies_are_refused() -> None:
    """More ship votes than votes can only be a bug: refuse it loudly."""
    with pytest.raises(ValueError, match="outside"):
        wilson_interval(3, 2)
