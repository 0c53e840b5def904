"""The field rules: what free text may hold is what the feed (XML 1.0) can carry and a reader
can see; moments are UTC ones."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import rules
from domain.errors import InvalidInput

REFUSED = [
    "\ufffe",
    "\uffff",
    "\ud800",
    "\udfff",
    "\ufdd0",
    "\ufdef",
    "\U0001fffe",
    "\U0010ffff",
    "\x00",
    "\x0b",
    "\x1b",
    "\x7f",
    "\x85",
]


@pytest.mark.parametrize("bad", REFUSED)
@pytest.mark.parametrize("field", [*rules.LISTING_FIELDS, "reviewer", "text", "reason", "actor"])
def test_text_xml_cannot_carry_is_refused_naming_the_field(field: str, bad: str) -> None:
    """In every text field, in the middle, and at either end unless stripping removes it."""
    ends = [] if bad.isspace() else [bad + "x", "x" + bad]
    for value in [f"a{bad}b", *ends]:
        with pytest.raises(InvalidInput) as refused:
            rules.text(field, value)
        assert refused.value.field == field
        assert f"U+{ord(bad):04X}" in refused.value.detail


@given(st.text(min_size=1, max_size=40))
def test_accepted_text_is_always_well_formed_xml(value: str) -> None:
    """Whatever `text` accepts, escaped, parses as the content of an XML element, unchanged."""
    try:
        kept = rules.text("name", value)
    except InvalidInput:
        return
    parsed = ET.fromstring(f"<a>{escape(kept)}</a>")  # noqa: S314 - a string built here
    assert (parsed.text or "") == kept


def test_tabs_newlines_and_ordinary_unicode_stay() -> None:
    """The rule refuses only what nobody can read: accents, emoji, CJK and line breaks pass."""
    value = "Café — 東京 😀\tline one\nline two"
    assert rules.text("description", value) == value


@pytest.mark.parametrize(
    "moment",
    [
        datetime.fromisoformat("9999-12-31T23:59:59-00:01"),
        datetime.fromisoformat("0001-01-01T00:00:00+00:01"),
    ],
)
def test_instants_outside_utcs_calendar_are_refused(moment: datetime) -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.instant(moment, "at")
    assert refused.value.field == "at"


def test_a_naive_instant_is_utc() -> None:
    assert rules.instant(datetime(2026, 1, 2, 3, 4)).isoformat() == "2026-01-02T03:04:00+00:00"


@given(st.text(alphabet="abz09-A_ .", max_size=70))
def test_is_slug_says_whether_slug_accepts(value: str) -> None:
    """The pages' 404 test and the slug rule agree on every value."""
    try:
        rules.slug(value)
    except InvalidInput:
        accepted = False
    else:
        accepted = True
    assert rules.is_slug(value) is accepted


@pytest.mark.parametrize(
    ("reason", "actor", "field"),
    [("", "editor:a", "reason"), ("", " ", "reason"), ("why", " ", "actor")],
)
def test_because_refuses_the_reason_before_the_actor(reason: str, actor: str, field: str) -> None:
    """A correction's reason and actor are checked as text, the reason first."""
    with pytest.raises(InvalidInput) as error:
        rules.because(reason, actor)
    assert error.value.field == field


def test_because_carries_the_checked_reason_and_actor() -> None:
    """What the event stores is what the text rule keeps."""
    assert rules.because(" why ", "editor:a") == {
        "reason": rules.text("reason", " why "),
        "actor": "editor:a",
    }
