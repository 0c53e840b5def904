"""Comparisons: two distinct tools, order-free identity, withdraw and publish again."""

from __future__ import annotations

import pytest

from domain.comparison import Comparison
from domain.errors import InvalidInput, UnknownComparison
from domain.ids import comparison_id


def test_comparison_identity_ignores_order() -> None:
    """'a vs b' and 'b vs a' are the same stream."""
    assert comparison_id("a", "b") == comparison_id("b", "a")
    c = Comparison.publish("a", "b", "editor:ann")
    [event] = c.collect_events()
    assert isinstance(event, Comparison.Published)
    assert (event.left, event.right, event.actor) == ("a", "b", "editor:ann")


def test_a_tool_is_not_compared_with_itself() -> None:
    """left == right is refused on the 'right' field."""
    with pytest.raises(InvalidInput) as error:
        Comparison.publish("a", "a", "editor:ann")
    assert error.value.field == "right"


def test_withdraw_once_then_republish() -> None:
    """Withdrawing twice is refused; republishing emits Republished."""
    c = Comparison.publish("a", "b", "editor:ann")
    c.withdraw("outdated", "editor:bob")
    with pytest.raises(UnknownComparison):
        c.withdraw("again", "editor:bob")
    c.republish("editor:bob")
    kinds = [type(e).__name__ for e in c.collect_events()]
    assert kinds == ["Published", "Withdrawn", "Republished"]
