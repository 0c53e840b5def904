"""Canonical event bytes: one definition, reproducible with nothing but a JSON library."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.records import canonical_json

json_text = st.text(st.characters(codec="utf-8"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=1000)
@given(json_values)
def test_canonical_bytes_equal_the_standard_library_form(value: Any) -> None:
    """orjson with sorted keys writes exactly what json.dumps(sort_keys, compact, UTF-8) writes."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode("utf-8")
