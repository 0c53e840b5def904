"""Timestamps stored for range queries: one UTC text form whose order is time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from projections.catalog.sortable import sortable, time_span

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


@given(st.lists(st.tuples(moments, offsets, st.booleans()), min_size=1, max_size=8))
def test_time_span_is_the_sortable_min_and_max(
    stamps: list[tuple[datetime, timezone, bool]],
) -> None:
    """time_span's fast path (times as recorded) and slow path (any offset) both give the
    sortable min and max of the points' times."""
    ats = [
        m.isoformat() if recorded else m.astimezone(tz).isoformat() for m, tz, recorded in stamps
    ]
    points = [
        (i, i + 1, at, "Ballot.Cast", "voter:v", 0, 0, 0, 0, None) for i, at in enumerate(ats)
    ]
    moments_ = [sortable(at) for at in ats]
    assert time_span(points) == (min(moments_), max(moments_))
