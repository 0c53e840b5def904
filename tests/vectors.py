"""The published test vectors in tests/data, read once: each file says where its values come from
(golang.org/x/mod/sumdb/note, the C2SP specifications, RFC 9162)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"

SIGNED_NOTES: dict[str, Any] = json.loads((DATA / "signed_note_vectors.json").read_text())
MERKLE: dict[str, Any] = json.loads((DATA / "merkle_vectors.json").read_text())
