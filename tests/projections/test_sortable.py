"""Timestamps stored for range queries: one UTC text form whose order is time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from projections.views import sortable

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(moments, moments, offsets)
def test_text_order_is_time_order_whatever_the_offset(
    a: datetime, b: datetime, tz: timezone
) -> None:
    """sortable() of any ISO form (UTC as recorded, or another offset) orders like the instants."""
    left, right = sortable(a.isoformat()), sortable(b.astimezone(tz).isoformat())
    assert (left < right) == (a < b)
    assert (left == right) == (a == b)
    assert left.endswith("Z") and len(left) == 27
