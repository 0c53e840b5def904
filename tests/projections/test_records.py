"""Canonical event bytes: one definition, reproducible with nothing but a JSON library."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings

from projections.records import canonical_json
from tests.strategies import json_values


@settings(max_examples=1000)
@given(json_values)
def test_canonical_bytes_equal_the_standard_library_form(value: Any) -> None:
    """orjson with sorted keys writes exactly what json.dumps(sort_keys, compact, UTF-8) writes."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode("utf-8")
