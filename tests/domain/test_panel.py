"""Panel verdicts: publish, amend with a reason, retract; decisions only ship or skip."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput, SeatAlreadyPublished, UnknownSeat
from domain.ids import panel_id
from domain.panel import Panel


def panel_with_builder() -> Panel:
    panel = Panel.open("example", "editor:ann")
    panel.publish("builder", "Builder", "ship", "Solid primitive.", "editor:ann")
    panel.collect_events()
    return panel


def test_first_verdict_opens_the_panel_and_publishes() -> None:
    """A new panel emits Opened then VerdictPublished, both naming the tool and the actor."""
    panel = Panel.open("example", "editor:ann")
    panel.publish("builder", "Builder", "skip", "Not yet.", "editor:ann")
    opened, published = panel.collect_events()
    assert isinstance(opened, Panel.Opened)
    assert (opened.originator_id, opened.tool, opened.actor) == (
        panel_id("example"),
        "example",
        "editor:ann",
    )
    assert isinstance(published, Panel.VerdictPublished)
    assert (
        published.tool,
        published.seat,
        published.reviewer,
        published.decision,
        published.text,
        published.actor,
    ) == ("example", "builder", "Builder", "skip", "Not yet.", "editor:ann")
    assert panel.seats == {
        "builder": {"reviewer": "Builder", "decision": "skip", "text": "Not yet."}
    }


def test_refusals_name_the_tool_the_seat_and_the_field() -> None:
    """An occupied seat, an empty seat and a no-op amendment are refused with a message naming
    the tool and seat (or the field at fault); nothing is emitted."""
    panel = panel_with_builder()
    with pytest.raises(SeatAlreadyPublished) as taken:
        panel.publish("builder", "Builder", "skip", "Again.", "editor:bob")
    assert (
        taken.value.detail == "seat 'builder' of 'example' already has a verdict; amend it instead"
    )
    with pytest.raises(UnknownSeat) as empty:
        panel.retract("skeptic", "why", "editor:bob")
    assert empty.value.detail == "tool 'example' has no current verdict in seat 'skeptic'"
    with pytest.raises(InvalidInput) as no_op:
        panel.amend("builder", "Builder", "ship", "Solid primitive.", "why", "editor:bob")
    assert (no_op.value.field, no_op.value.detail) == (
        "decision",
        "decision: the amendment changes nothing",
    )
    assert panel.collect_events() == []


def test_retraction_records_its_reason_and_editor_and_needs_both() -> None:
    """VerdictRetracted carries the tool, the seat, the reason and the editor; an empty reason
    or editor is refused naming the field."""
    panel = panel_with_builder()
    for reason, actor, field in (("", "editor:bob", "reason"), ("left", " ", "actor")):
        with pytest.raises(InvalidInput) as error:
            panel.retract("builder", reason, actor)
        assert error.value.field == field
    assert panel.collect_events() == []
    panel.retract("builder", " reviewer left ", "editor:bob")
    [event] = panel.collect_events()
    assert isinstance(event, Panel.VerdictRetracted)
    assert (event.tool, event.seat, event.reason, event.actor) == (
        "example",
        "builder",
        "reviewer left",
        "editor:bob",
    )
    assert panel.seats == {}


@pytest.mark.parametrize("decision", ["SHIP", "maybe", "", "yes"])
def test_decisions_are_only_ship_or_skip(decision: str) -> None:
    """Anything but 'ship' or 'skip' is refused with the field named."""
    panel = Panel.open("example", "editor:ann")
    with pytest.raises(InvalidInput) as error:
        panel.publish("builder", "Builder", decision, "text", "editor:ann")
    assert error.value.field == "decision"


def test_seat_holds_one_current_verdict() -> None:
    """Publishing into an occupied seat is refused: an edit must be an amendment."""
    panel = panel_with_builder()
    with pytest.raises(SeatAlreadyPublished):
        panel.publish("builder", "Builder", "skip", "Changed my mind.", "editor:bob")


def test_amendment_records_whole_new_verdict_editor_and_reason() -> None:
    """Amending records the new reviewer/decision/text, the editor and the reason."""
    panel = panel_with_builder()
    panel.amend("builder", "Builder", "skip", "Pricing changed.", "price doubled", "editor:bob")
    [event] = panel.collect_events()
    assert isinstance(event, Panel.VerdictAmended)
    assert (
        event.tool,
        event.seat,
        event.reviewer,
        event.decision,
        event.text,
        event.reason,
        event.actor,
    ) == (
        "example",
        "builder",
        "Builder",
        "skip",
        "Pricing changed.",
        "price doubled",
        "editor:bob",
    )
    assert panel.seats["builder"]["decision"] == "skip"


def test_amendment_needs_reason_and_change() -> None:
    """Without a reason, or changing nothing, an amendment is refused."""
    panel = panel_with_builder()
    with pytest.raises(InvalidInput, match="reason"):
        panel.amend("builder", "Builder", "skip", "Other.", "", "editor:bob")
    with pytest.raises(InvalidInput, match="nothing"):
        panel.amend("builder", "Builder", "ship", "Solid primitive.", "why", "editor:bob")
    assert panel.collect_events() == []


def test_retraction_empties_the_seat_which_can_be_filled_again() -> None:
    """Retract, then amending is refused (no verdict) but publishing works again."""
    panel = panel_with_builder()
    panel.retract("builder", "reviewer left", "editor:bob")
    [event] = panel.collect_events()
    assert isinstance(event, Panel.VerdictRetracted)
    with pytest.raises(UnknownSeat):
        panel.amend("builder", "Builder", "skip", "x", "why", "editor:bob")
    with pytest.raises(UnknownSeat):
        panel.retract("builder", "again", "editor:bob")
    panel.publish("builder", "New Builder", "ship", "Fresh look.", "editor:bob")
    assert [type(e) for e in panel.collect_events()] == [Panel.VerdictPublished]


def test_a_seat_outside_the_panel_is_refused_listing_the_seats() -> None:
    """A typo (`critic`) does not add a fifth reviewer: 422 on `seat`, naming the valid ones."""
    panel = Panel.open("example", "editor:ann")
    with pytest.raises(InvalidInput) as error:
        panel.publish("critic", "Critic", "ship", "text", "editor:ann")
    assert error.value.field == "seat"
    assert "builder, skeptic, buyer, futurist" in error.value.detail
    assert panel.collect_events()[1:] == []


def test_a_configured_panel_takes_its_own_seats() -> None:
    """The seats are the ledger's setting; the default is the demo data's four."""
    panel = Panel.open("example", "editor:ann")
    panel.publish("critic", "Critic", "ship", "text", "editor:ann", seats=("critic",))
    with pytest.raises(InvalidInput):
        panel.publish("builder", "Builder", "ship", "text", "editor:ann", seats=("critic",))
    assert list(panel.seats) == ["critic"]


def test_a_verdict_stored_in_a_seat_no_longer_configured_can_still_be_amended_or_retracted() -> (
    None
):
    """History is never refused: a seat dropped from the setting keeps its verdict, which an
    editor may still amend or retract."""
    panel = Panel.open("example", "editor:ann")
    panel.publish("critic", "Critic", "ship", "text", "editor:ann", seats=("critic",))
    panel.amend("critic", "Critic", "skip", "text", "second look", "editor:ann")
    panel.retract("critic", "seat dropped", "editor:ann")
    assert panel.seats == {}


def test_an_amendment_changes_only_what_it_names() -> None:
    """Left out (None), the reviewer, decision or text stays as it is; the event still carries
    the whole new verdict."""
    panel = panel_with_builder()
    panel.amend("builder", None, "skip", None, "price doubled", "editor:bob")
    [amended] = panel.collect_events()
    assert isinstance(amended, Panel.VerdictAmended)
    assert (amended.reviewer, amended.decision, amended.text) == (
        "Builder",
        "skip",
        "Solid primitive.",
    )
    panel.amend("builder", "New Builder", None, "New text.", "new reviewer", "editor:bob")
    [amended] = panel.collect_events()
    assert isinstance(amended, Panel.VerdictAmended)
    assert (amended.reviewer, amended.decision, amended.text) == (
        "New Builder",
        "skip",
        "New text.",
    )


def test_an_amendment_that_changes_nothing_is_refused_on_decision() -> None:
    """Restating the current verdict is no amendment: refused naming `decision`, nothing emitted."""
    panel = panel_with_builder()
    with pytest.raises(InvalidInput) as error:
        panel.amend("builder", "Builder", None, None, "why", "editor:bob")
    assert (error.value.field, error.value.detail) == (
        "decision",
        "decision: the amendment changes nothing",
    )
    assert panel.collect_events() == []


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_an_amendment_without_a_reason_says_one_is_required(reason: str | None) -> None:
    panel = panel_with_builder()
    with pytest.raises(InvalidInput) as error:
        panel.amend("builder", None, "skip", None, reason, "editor:bob")
    assert (error.value.field, error.value.detail) == (
        "reason",
        "reason: a reason is required when amending",
    )


@pytest.mark.parametrize("missing", ["reviewer", "decision", "text"])
def test_publishing_needs_reviewer_decision_and_text(missing: str) -> None:
    given = {"reviewer": "Builder", "decision": "ship", "text": "Fine."} | {missing: None}
    panel = Panel.open("example", "editor:ann")
    with pytest.raises(InvalidInput) as error:
        panel.publish("builder", actor="editor:ann", **given)
    assert (error.value.field, error.value.detail) == (
        missing,
        f"{missing}: is required when publishing a verdict",
    )
