"""The garbage collector's settings for long-running work."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from api.server.collector import collector_paused


@pytest.fixture
def collector_as_it_was() -> Iterator[None]:
    """Whatever a test does to the collector, the next test finds it as this one did."""
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_pause_leaves_the_collector_as_it_found_it(
    collector_as_it_was: None, enabled: bool
) -> None:
    """Off in the block; after it, on again only if it was on (a caller that had turned it off
    keeps it off), and so when the block raises too."""
    if enabled:
        gc.enable()
    else:
        gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled() == enabled
    with pytest.raises(KeyError), collector_paused():
        raise KeyError("the replay failed")
    assert gc.isenabled() == enabled
