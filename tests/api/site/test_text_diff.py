"""The preview's diff: whatever the texts, dropping its insertions gives the old text back and
dropping its deletions gives the new one, and nothing in either escapes as markup."""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st

from api.site.text_diff import diff_html

_words = st.lists(
    st.sampled_from(["ship", "skip", "<b>", "a&b", " ", "\n", "tool", "\u2019", "x"]), max_size=12
).map("".join)
texts = _words | st.text(max_size=40)
LABEL = r'<span class="visually-hidden">(?:removed|added): </span>'


def _side(markup: str, drop: str, keep: str) -> str:
    without = re.sub(rf"<{drop}>{LABEL}.*?</{drop}>", "", markup, flags=re.S)
    kept = re.sub(rf"<{keep}>{LABEL}(.*?)</{keep}>", r"\1", without, flags=re.S)
    assert "<" not in kept, "only the diff's own tags are markup"
    return html.unescape(kept)


@given(texts, texts)
def test_the_diff_holds_both_texts(old: str, new: str) -> None:
    markup = str(diff_html(old, new))
    assert _side(markup, "ins", "del") == old
    assert _side(markup, "del", "ins") == new


def test_unchanged_text_has_no_marks() -> None:
    assert str(diff_html("same words", "same words")) == "same words"
    assert str(diff_html("a b", "a c")).count("<del>") == 1
