"""The catalog folded a page at a time (`Catalog.apply_all`, with its path written out for
ballots) equals the event-at-a-time fold (`Catalog.apply`): one definition of every number."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.catalog.fold import Catalog, fold_catalog
from projections.records import LedgerEvent
from tests.strategies import catalog_events


def _by_event(events: list[LedgerEvent], catalog: Catalog) -> Catalog:
    for event in events:
        catalog.apply(event)
    return catalog


def _failure(fold: Callable[..., object], *args: object) -> type[Exception] | None:
    """What a fold of ill-formed events raised (a retraction of a ballot never cast makes a
    negative tally, which a tool's document refuses): both folds must fail alike."""
    try:
        fold(*args)
    except (KeyError, ValueError) as error:
        return type(error)
    return None


@settings(max_examples=500)
@given(catalog_events, st.data())
def test_page_fold_equals_event_fold(events: list[LedgerEvent], data: st.DataObject) -> None:
    """Same catalog and same drained batches after every page, however the log is paged."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=5)))
    by_page, by_event = Catalog(), Catalog()
    start = 0
    for end in [*cuts, len(events)]:
        page = events[start:end]
        failed = _failure(by_page.apply_all, page)
        assert failed == _failure(_by_event, page, by_event)
        assert by_page == by_event
        if failed:
            return
        if data.draw(st.booleans()):
            assert by_page.drain() == by_event.drain()
        start = end
    assert by_page == by_event


@settings(max_examples=200)
@given(catalog_events)
def test_fold_catalog_equals_event_fold(events: list[LedgerEvent]) -> None:
    """fold_catalog, which the auditor's replay and "as of" tests use, is the same fold."""
    by_page, by_event = Catalog(), Catalog()
    failed = _failure(fold_catalog, events, by_page)
    assert failed == _failure(_by_event, events, by_event)
    assert by_page == by_event
