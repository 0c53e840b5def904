"""HTML checks without a Java validator: a strict HTML5 parse (html5lib reports every parse
error the WHATWG parser defines) plus the document rules the parser does not see."""

from __future__ import annotations

import itertools
import re
from xml.etree.ElementTree import Element

import html5lib

HEADING = re.compile(r"h([1-6])")
REFERENCES = ("aria-labelledby", "aria-describedby", "for")
UNNAMED = frozenset(
    {"b", "code", "del", "div", "em", "i", "ins", "p", "pre", "s", "small", "span", "strong",
     "sub", "sup", "u"}
)  # fmt: skip
"""Elements whose implicit role (generic, paragraph, code, ...) prohibits a name: ARIA in HTML
forbids aria-label on them without an explicit role, and the Nu HTML checker reports it."""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def parse_strict(text: str) -> Element:
    """The document tree; fails on the first parse error, naming it."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        root: Element = parser.parse(text)
    except html5lib.html5parser.ParseError as error:
        line, col = parser.errors[0][0] if parser.errors else ("?", "?")
        raise AssertionError(f"HTML parse error at line {line}, column {col}: {error}") from None
    return root


BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "legend", "li", "main", "nav", "ol", "p", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip


def text_of(element: Element) -> str:
    """The text a reader sees, with block elements kept apart, whitespace collapsed."""

    def walk(e: Element) -> str:
        gap = " " if _local(str(e.tag)) in BLOCKS else ""
        inner = (e.text or "") + "".join(walk(child) + (child.tail or "") for child in e)
        return gap + inner + gap

    return " ".join(walk(element).split())


def assert_valid_html(text: str) -> Element:
    """Strict parse, a doctype, lang, one h1, no skipped heading levels, unique ids, every id
    reference resolvable, every button and link named, and no name on what cannot have one."""
    assert text.lstrip().lower().startswith("<!doctype html>"), "missing <!doctype html>"
    root = parse_strict(text)
    assert root.get("lang"), "<html> needs a lang attribute"
    elements = list(root.iter())
    ids = [e.get("id") for e in elements if e.get("id")]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate ids: {sorted(duplicates)}"
    known = set(ids)
    for e in elements:
        for attribute in REFERENCES:
            for ref in (e.get(attribute) or "").split():
                assert ref in known, f"{attribute}={ref!r} names no element"
        href = e.get("href") or ""
        if _local(str(e.tag)) == "a" and href.startswith("#"):
            assert href[1:] in known, f"link to missing #{href[1:]}"
    levels = [int(m[1]) for e in elements if (m := HEADING.fullmatch(_local(str(e.tag))))]
    assert levels.count(1) == 1, f"expected one h1, found {levels.count(1)}"
    for before, after in itertools.pairwise(levels):
        assert after <= before + 1, f"heading level jumps from h{before} to h{after}"
    for e in elements:
        tag = _local(str(e.tag))
        if tag in ("button", "a") and not (
            text_of(e) or e.get("aria-label") or e.find("{*}title") is not None
        ):
            raise AssertionError(f"<{tag}> without an accessible name")
        if tag == "img":
            assert e.get("alt") is not None, "<img> without alt"
        if tag in UNNAMED and not e.get("role"):
            assert e.get("aria-label") is None, f"aria-label on <{tag}>, which cannot be named"
    return root
