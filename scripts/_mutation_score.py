"""The score table of the last `mutmut run` (scripts/mutation calls this): one line per module with
mutants, killed, survived, timeout and score, then a total; the surviving mutants' diffs; exit 1
when a module scores below the bar or when an excluded equivalent no longer matches its mutant.

Reads mutmut 3.8.1's result files (mutants/<path>.meta) and its diff helper, hence the exact pin
in pyproject.toml. A timeout counts as killed (the mutant never finished); a mutant with no test
counts as a survivor. Equivalent mutants are listed, with their reason, in
scripts/mutation-equivalents.toml; each entry names the mutant and the line as the mutant has it,
so a renumbering after an edit fails loudly instead of excluding some other mutant; one that
is killed fails too, one that timed out (no verdict, a loaded machine) is only noted."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

BAR = 95.0
EQUIVALENTS = Path("scripts/mutation-equivalents.toml")


def mutated_line(name: str, path: str) -> str:
    """The changed line of a mutant, as the mutant has it ('' when it only removes lines)."""
    diff = get_diff_for_mutant(name, path=path).splitlines()
    added = [line[1:].strip() for line in diff if line[:1] == "+" and line[:3] != "+++"]
    return added[0] if added else ""


def main() -> int:
    with EQUIVALENTS.open("rb") as f:
        equivalents = {e["mutant"]: e for e in tomllib.load(f)["equivalent"]}
    problems: list[str] = []
    notes: list[str] = []
    rows: list[tuple[str, int, int, int, int, int]] = []
    survivors: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    paths = sorted(Path("mutants").rglob("*.py.meta"))
    if not paths:
        print("no mutmut results under mutants/: run scripts/mutation", file=sys.stderr)
        return 2
    for meta in paths:
        path = str(meta.relative_to("mutants"))[: -len(".meta")]
        results = json.loads(meta.read_text())["exit_code_by_key"]
        killed = survived = timeout = excluded = 0
        for name, code in results.items():
            status = status_by_exit_code[code]
            if name in equivalents:
                seen.add(name)
                expected, actual = equivalents[name]["line"].strip(), mutated_line(name, path)
                if actual != expected:
                    problems.append(f"{name}: listed as `{expected}`, the mutant is `{actual}`")
                if status == "timeout":  # no verdict: a loaded machine ran out its CPU limit
                    notes.append(f"{name}: listed as equivalent, timed out this run")
                elif status != "survived":
                    problems.append(f"{name}: listed as equivalent but {status}")
                excluded += 1
            elif status == "killed":
                killed += 1
            elif status == "timeout":
                timeout += 1
            else:
                survived += 1
                survivors.append((name, status, path))
        rows.append((path, len(results) - excluded, killed, survived, timeout, excluded))
    for name in sorted(equivalents.keys() - seen):
        problems.append(f"{name}: listed as equivalent but not a mutant")

    def score(killed: int, timeout: int, mutants: int) -> float:
        return 100.0 * (killed + timeout) / mutants if mutants else 100.0

    print(
        f"{'module':<34} {'mutants':>7} {'killed':>7} {'survived':>8} {'timeout':>7} {'score':>7}"
        "  (equivalents excluded)"
    )
    for path, mutants, killed, survived, timeout, excluded in rows:
        pct = score(killed, timeout, mutants)
        mark = "" if pct >= BAR else f"  BELOW {BAR:.0f}%"
        print(
            f"{path:<34} {mutants:>7} {killed:>7} {survived:>8} {timeout:>7} {pct:>6.1f}%"
            f"  ({excluded}){mark}"
        )
        if pct < BAR:
            problems.append(f"{path} scores {pct:.1f}%, below {BAR:.0f}%")
    totals = [sum(row[i] for row in rows) for i in range(1, 6)]
    print(
        f"{'total':<34} {totals[0]:>7} {totals[1]:>7} {totals[2]:>8} {totals[3]:>7}"
        f" {score(totals[1], totals[3], totals[0]):>6.1f}%  ({totals[4]})"
    )
    for name, status, path in survivors:
        print(f"\n{status}: {name}\n{get_diff_for_mutant(name, path=path)}")
    for note in notes:
        print(f"NOTE {note}", file=sys.stderr)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
