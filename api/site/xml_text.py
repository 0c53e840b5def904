"""Text as XML 1.0 can carry it: the feed and the SVG charts are XML, and one character outside
XML's `Char` production (U+FFFE, a lone surrogate, most C0 controls) makes the whole document
unreadable to every feed reader and XML parser."""

from __future__ import annotations

import re
from typing import Any

NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Any character outside XML 1.0's `Char`."""


def xml_safe(value: Any) -> Any:
    """`value` with every string in it (in lists and dict values, at any depth) stripped of
    what XML cannot carry. The domain refuses such text (domain/rules.py); this guards what is
    already stored."""
    if isinstance(value, str):
        return NOT_XML.sub("", value)
    if isinstance(value, dict):
        return {k: xml_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [xml_safe(v) for v in value]
    return value
