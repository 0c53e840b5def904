"""The README's tour is executed, so it cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run() -> None:
    """Every ```python block in the README runs without error (its asserts included)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README lost its tour"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})  # noqa: S102 - our own README


def test_readme_names_the_two_commands() -> None:
    """The two sacred commands stand alone on their lines."""
    lines = {line.strip() for line in README.read_text().splitlines()}
    assert {"scripts/serve", "scripts/test"} <= lines
