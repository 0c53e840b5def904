"""The one retry schedule: doubling from `first` to `most`, reset by a success, jitter below it."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.persistence.backoff import Backoff

seconds = st.floats(min_value=1e-4, max_value=100.0)


@given(first=seconds, factor=st.floats(min_value=1.0, max_value=1e4), n=st.integers(1, 40))
def test_delays_double_from_first_up_to_most(first: float, factor: float, n: int) -> None:
    """The k-th delay is min(first * 2**k, most): never below first, never above most."""
    most = first * factor
    backoff = Backoff(first, most)
    delays = [backoff.next() for _ in range(n)]
    assert delays == [min(first * 2**k, most) for k in range(n)]


@given(first=seconds, failures=st.integers(1, 20))
def test_reset_starts_again_from_first(first: float, failures: int) -> None:
    """After any number of failures, a success makes the next delay `first` again."""
    backoff = Backoff(first, first * 64)
    for _ in range(failures):
        backoff.next()
    backoff.reset()
    assert backoff.next() == first


@given(first=seconds, n=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_jittered_delays_stay_below_their_step(first: float, n: int, seed: int) -> None:
    """Each jittered delay lies in [0, the un-jittered step]; the steps still double."""
    plain, jittered = (
        Backoff(first, first * 16),
        Backoff(first, first * 16, jitter=random.Random(seed)),
    )
    for _ in range(n):
        step, delay = plain.next(), jittered.next()
        assert 0 <= delay <= step


@pytest.mark.parametrize(("first", "most"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_a_schedule_that_never_waits_or_shrinks_is_refused(first: float, most: float) -> None:
    """A zero first delay would spin; most below first is a typo."""
    with pytest.raises(ValueError, match="first"):
        Backoff(first, most)
