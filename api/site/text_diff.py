"""A verdict's text against the version it would replace, as accessible HTML.

Word-level `difflib` opcodes become <del> and <ins>; both carry a visually hidden label
("removed:", "added:") because screen readers do not announce the elements themselves, and the
styling never relies on colour alone (strike-through and underline)."""

from __future__ import annotations

import difflib
import re

from markupsafe import Markup, escape

_TOKENS = re.compile(r"\s+|[^\s]+")


def _tokens(text: str) -> list[str]:
    return _TOKENS.findall(text)


def diff_html(old: str, new: str) -> Markup:
    """`new` marked up against `old`: unchanged words as text, the rest in <del>/<ins>."""
    a, b = _tokens(old), _tokens(new)
    parts: list[str] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append(str(escape("".join(a[i1:i2]))))
            continue
        if i2 > i1:
            removed = escape("".join(a[i1:i2]))
            parts.append(f'<del><span class="visually-hidden">removed: </span>{removed}</del>')
        if j2 > j1:
            added = escape("".join(b[j1:j2]))
            parts.append(f'<ins><span class="visually-hidden">added: </span>{added}</ins>')
    return Markup("".join(parts))  # noqa: S704 - every piece of text above is escaped
