"""No import circle among the project's modules (domain/, projections/, api/), type-only imports
included: a circle makes a module's meaning depend on which one is imported first, and hides
that two modules are one concept.

Imports are read with `ast`, anywhere in a module (under `if TYPE_CHECKING:`, inside functions).
Importing `a.b.c` also imports the packages `a` and `a.b` (their `__init__`), so a module that
imports its own package is in a circle exactly when that `__init__` imports something of ours."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "projections", "api")


def modules(root: Path) -> dict[str, Path]:
    """Every module of the project's packages under `root`, by dotted name (a package by its
    own name, for its `__init__.py`)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _with_packages(name: str) -> list[str]:
    """`a.b.c` and the packages importing it runs first: `a`, `a.b`."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules that importing `name` imports directly (itself excluded)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    wanted: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                wanted.update(_with_packages(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            wanted.update(_with_packages(base))
            wanted.update(f"{base}.{alias.name}" for alias in node.names)  # submodules
    wanted.update(_with_packages(name)[:-1])  # one's own packages run first
    return {m for m in wanted if m in known and m != name}


def circles(root: Path) -> list[list[str]]:
    """Each group of modules that import one another, directly or through others (Tarjan's
    strongly connected components of more than one module), sorted."""
    found = modules(root)
    graph = {name: sorted(imports(name, path, set(found))) for name, path in found.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return sorted(groups)


def test_no_module_imports_one_that_imports_it_back() -> None:
    """The project's own tree has no import circle."""
    assert circles(ROOT) == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_circles_are_found_through_type_only_relative_and_package_imports(
    tmp_path: Path,
) -> None:
    """The finder sees a circle closed by an `if TYPE_CHECKING:` import, by a relative import
    and by a package `__init__` that imports its own module; an `__init__` importing nothing
    of ours makes no circle."""
    tree = _tree(
        tmp_path,
        {
            "domain/app.py": "from domain.persistence.writer import Writer\n",
            "domain/persistence/__init__.py": "",
            "domain/persistence/writer.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from domain.app import App\n"
            ),
            "projections/one.py": "from . import two\n",
            "projections/two.py": "from .one import thing\n",
            "api/site/__init__.py": "from api.site.pages import router\n",
            "api/site/pages.py": "from api.site import charts\n",
            "api/site/charts.py": "",
            "api/voting/__init__.py": "",
            "api/voting/lane.py": "from api.voting import auth\n",
            "api/voting/auth.py": "import api.voting.lane\n",
        },
    )
    assert circles(tree) == [
        ["api.site", "api.site.charts", "api.site.pages"],
        ["api.voting.auth", "api.voting.lane"],
        ["domain.app", "domain.persistence.writer"],
        ["projections.one", "projections.two"],
    ]
