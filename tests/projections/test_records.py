"""Canonical event bytes: one definition, reproducible with nothing but a JSON library."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.records import LedgerEvent, canonical_json
from tests.strategies import json_values


@settings(max_examples=1000)
@given(json_values)
def test_canonical_bytes_equal_the_standard_library_form(value: Any) -> None:
    """orjson with sorted keys writes exactly what json.dumps(sort_keys, compact, UTF-8) writes."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode("utf-8")


_names = st.text(st.characters(codec="utf-8"), max_size=40)
"""Originator ids and topics as any text: the splice must escape them as JSON would."""
ledger_events = st.builds(
    LedgerEvent,
    position=st.integers(0, 2**63 - 1),
    topic=_names,
    kind=_names,
    originator_id=_names,
    version=st.integers(-(2**63), 2**63 - 1),
    timestamp=_names,
    data=st.dictionaries(_names, json_values, max_size=6),
)


@settings(max_examples=1000)
@given(ledger_events)
def test_spliced_canonical_bytes_equal_the_sorted_export(event: LedgerEvent) -> None:
    """`canonical()` writes exactly the canonical JSON of the exported object (docs/audit.md)."""
    assert event.canonical() == canonical_json(event.exported())
    expected = json.dumps(
        event.exported(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert event.canonical() == expected.encode("utf-8")
