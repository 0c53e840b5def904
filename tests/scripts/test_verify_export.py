"""scripts/verify.py on an export file (`verdict export`), on SQLite and PostgreSQL: the header's
key and checkpoint, or the auditor's own; an edited file fails at the edited line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.server.cli import main
from domain.application import Ledger
from domain.settings import Settings
from projections.audit.signed_note import generate_signer
from tests.scripts.serving_audit import DEMO_EVENTS, load_verifier, verdict_line, verify


@pytest.fixture
def export(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger: Ledger
) -> Path:
    """The demo data and a few votes, exported with `verdict export`."""
    monkeypatch.setenv("VERDICT_DATABASE_URL", settings.database_url)
    assert main(["seed"]) == 0
    for voter, choice in (("ann", "ship"), ("bob", "skip"), ("ann", "skip")):
        ledger.vote("smollm3", f"voter:{voter}", choice)
    ledger.vote("smollm3", "voter:bob", None)
    path = tmp_path / "ledger.ndjson"
    assert main(["export", str(path)]) == 0
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_an_export_verifies_with_the_header_or_an_independent_key(
    export: Path, tmp_path: Path
) -> None:
    """OK both ways; trusting the file's own key and checkpoint is said loudly."""
    code, out = verify("--export", str(export))
    assert code == 0, out
    assert verdict_line(out).startswith(f"VERDICT: OK — {DEMO_EVENTS + 4} events")
    assert "TRUSTING THE KEY FROM THE SOURCE UNDER AUDIT" in out
    assert "the checkpoint comes from the export file itself" in out
    assert re.search(r"smollm3 +listed +panel 3/4 ship \(75 %\), community 0/1 ship \(0 %\)", out)
    header = json.loads(_lines(export)[0])
    note = tmp_path / "checkpoint.txt"
    note.write_text(header["checkpoint"])
    key = header["verifier_key"]
    code, out = verify("--export", str(export), "--checkpoint", str(note), "--public-key", key)
    assert code == 0, out
    assert "WARNING" not in out


def test_an_edited_export_fails_at_the_edited_line(export: Path) -> None:
    """A decision flipped in one line: that leaf; two lines swapped: the first of them."""
    lines = _lines(export)
    index = next(i for i, line in enumerate(lines[1:]) if '"decision":"skip"' in line)
    flipped = [*lines]
    flipped[index + 1] = lines[index + 1].replace('"decision":"skip"', '"decision":"ship"')
    export.write_text("".join(flipped))
    code, out = verify("--export", str(export))
    assert code == 1, out
    position = json.loads(lines[index + 1])["event"]["position"]
    assert verdict_line(out).startswith(
        f"VERDICT: FAILED — first bad leaf {index} (log position {position}): event changed"
    ), out
    swapped = [lines[0], lines[2], lines[1], *lines[3:]]
    export.write_text("".join(swapped))
    code, out = verify("--export", str(export))
    assert code == 1, out
    assert "first bad leaf 0 (log position 2): export line out of order (leaf_index 1)" in out


def test_an_altered_or_foreign_checkpoint_is_refused(export: Path, tmp_path: Path) -> None:
    """The header's checkpoint with another size: bad signature; a key the ledger never used:
    no signature by that key; either way exit 1."""
    lines = _lines(export)
    header = json.loads(lines[0])
    size = DEMO_EVENTS + 4
    header["checkpoint"] = header["checkpoint"].replace(f"\n{size}\n", f"\n{size - 1}\n", 1)
    export.write_text(json.dumps(header) + "\n" + "".join(lines[1:]))
    code, out = verify("--export", str(export))
    assert code == 1, out
    assert verdict_line(out).startswith("VERDICT: FAILED — BAD SIGNATURE by verdict-ledger")
    stranger = generate_signer("verdict-ledger.localhost/ledger")[0].verifier_key
    export.write_text("".join(lines))
    code, out = verify("--export", str(export), "--public-key", stranger)
    assert code == 1, out
    assert verdict_line(out).startswith("VERDICT: FAILED — no signature by key verdict-ledger")
    assert "the source names another key than the --public-key given" in out


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    """Neither a URL nor an export, a missing file, a closed port: exit 2, no verdict."""
    assert verify()[0] == 2
    code, out = verify("--export", str(tmp_path / "missing.ndjson"))
    assert code == 2 and "VERDICT" not in out
    code, out = verify("http://127.0.0.1:9", "--timeout", "2")
    assert code == 2 and "cannot complete the audit" in out


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_line_past_max_line_fails_the_audit_at_its_number(
    export: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    """As over HTTP, an export line longer than MAX_LINE is refused, not read whole: leaf 3's
    line padded with JSON whitespace past the bound (a line that decodes as before) is a
    FAILED verdict naming line 5 and leaf 3; padded up to the bound exactly, it passes."""
    verifier = load_verifier()
    monkeypatch.setattr(verifier, "MAX_LINE", 2000)
    lines = export.read_bytes().splitlines(keepends=True)
    for length, ok in ((2000, True), (2001, False)):
        padded = lines[4].rstrip(b"\n").ljust(length) + b"\n"
        export.write_bytes(b"".join([*lines[:4], padded, *lines[5:]]))
        code = verifier.main(["--export", str(export), "--json", "--workers", workers])
        report = json.loads(capsys.readouterr().out)
        assert (code, report["ok"]) == ((0, True) if ok else (1, False)), report
        if not ok:
            assert report["failures"] == [f"{export}: line 5 (leaf 3) is longer than 2000 bytes"], (
                report
            )


def _corrupt(line: bytes, how: int, at: int) -> bytes:
    """One of the ways an export line goes wrong: a byte changed, the line cut, or a field of
    its JSON dropped or retyped."""
    at %= max(1, len(line) - 1)
    if how == 0:
        return line[:at] + bytes([line[at] ^ 0x20]) + line[at + 1 :]
    try:
        found = json.loads(line)
    except ValueError:  # an earlier edit broke it already
        how = 1
    if how == 1:
        return line[:at] + b"\n"
    name = ["leaf_hash", "event", "leaf_index"][how - 2]
    if how == 4:
        found[name] = str(found.get(name))
    else:
        found.pop(name, None)
    return json.dumps(found).encode() + b"\n"


@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 4), st.integers(0, 10_000)),
        max_size=4,
    )
)
@settings(max_examples=12)
def test_two_processes_find_what_one_finds(export: Path, edits: list[tuple[int, int, int]]) -> None:
    """The leaves hashed in a worker process while this one replays: the same report (every
    line, failure and first bad leaf) and the same recount as in one process, on any edits."""
    verifier = load_verifier()
    lines = export.read_bytes().splitlines(keepends=True)
    header, body = json.loads(lines[0]), lines[1:]
    for index, how, at in edits:
        body[index % len(body)] = _corrupt(body[index % len(body)], how, at)
    key = verifier.parse_verifier_key(header["verifier_key"])
    latest = verifier.open_checkpoint(header["checkpoint"], key)
    found = []
    for workers in (1, 2):
        report, replay = verifier.Report("x"), verifier.Replay()
        kept = verifier.check_leaves(
            iter(body), [(latest.size, latest.root)], report, replay, {0, 5}, workers
        )
        report.started = 0
        ballots = {slug: replay.ballots_of(slug) for slug in replay.tools}
        found.append((report, kept, replay.tools, replay.problems, replay.surfaces, ballots))
    assert found[0] == found[1]
