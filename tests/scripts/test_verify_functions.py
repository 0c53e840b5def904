"""scripts/verify.py's own hashing, proofs and notes, held equal to the service's by Hypothesis;
and its independence: it imports nothing of the service, only the standard library and
`cryptography`."""

from __future__ import annotations

import ast
import base64
import contextlib
import http.server
import io
import json
import random
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.audit import merkle
from projections.audit.signed_note import format_checkpoint, generate_signer, time_extension
from projections.records import canonical_json
from tests.scripts.serving_audit import VERIFY, load_verifier
from tests.strategies import (
    consistency_pairs,
    inclusion_targets,
    json_values,
    key_names,
    leaf_data,
)

verify = load_verifier()


def _tree(size: int) -> tuple[list[bytes], merkle.MemoryNodes]:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(size)]
    return leaves, merkle.MemoryNodes.of(leaves)


def test_imports_nothing_of_the_service() -> None:
    """Every import is the standard library or cryptography; none is domain, projections, api."""
    tree = ast.parse(VERIFY.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    roots = {name.split(".")[0] for name in imported}
    assert not roots & {"domain", "projections", "api", "tests"}
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}


@given(json_values)
def test_canonical_bytes_equal_the_services(value: Any) -> None:
    """Same bytes as projections.records.canonical_json for any float-free JSON value."""
    assert verify.canonical_json(value) == canonical_json(value)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_canonical_bytes_equal_json_dumps(value: Any) -> None:
    """The once-built C encoder gives json.dumps's bytes (sorted, compact, UTF-8), floats too."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert verify.canonical_json(value) == expected.encode()


@given(
    st.one_of(
        st.text(),
        st.tuples(
            st.sampled_from(["", " ", "\n", "\t\r", "x"]),
            json_values.map(json.dumps),
            st.sampled_from(["", "\n", " \r\n", " x", "{}"]),
        ).map("".join),
    )
)
def test_decode_line_answers_as_the_full_decoder(text: str) -> None:
    """decode_line gives _DECODE's value, and refuses (ValueError) what it refuses."""
    try:
        expected = repr(verify._DECODE(text))
    except ValueError:
        with pytest.raises(ValueError, match=r"\w"):
            verify.decode_line(text)
        return
    assert repr(verify.decode_line(text)) == expected


@given(leaf_data)
def test_roots_equal_the_services(data: list[bytes]) -> None:
    """Leaf hashes, the recursive root and the streaming compact range all agree with
    projections.audit.merkle, at every size along the way."""
    leaves = [verify.leaf_hash(d) for d in data]
    assert leaves == [merkle.leaf_hash(d) for d in data]
    nodes, compact = merkle.MemoryNodes.of(leaves), verify.CompactRange()
    assert compact.root() == merkle.EMPTY_ROOT
    for size, leaf in enumerate(leaves, start=1):
        compact.append(leaf)
        assert compact.root() == verify.root_of(leaves[:size]) == merkle.root(size, nodes)


@given(inclusion_targets, st.integers(0, 2**16))
def test_inclusion_proofs_of_the_service_verify(target: tuple[int, int], flip: int) -> None:
    """The service's audit path verifies; with any one bit flipped, or for the neighbour leaf,
    it does not."""
    index, size = target
    leaves, nodes = _tree(size)
    proof, root = merkle.inclusion_proof(index, size, nodes), merkle.root(size, nodes)
    assert verify.verify_inclusion(leaves[index], index, size, proof, root)
    if size > 1:
        other = (index + 1) % size
        assert not verify.verify_inclusion(leaves[index], other, size, proof, root)
        bad = bytearray(b"".join(proof))
        bad[flip % len(bad) // 8] ^= 1 << flip % 8
        broken = [bytes(bad[i : i + 32]) for i in range(0, len(bad), 32)]
        assert not verify.verify_inclusion(leaves[index], index, size, broken, root)


@given(consistency_pairs, st.integers(0, 2**16))
def test_consistency_proofs_of_the_service_verify(pair: tuple[int, int], flip: int) -> None:
    """The service's consistency proof verifies against both roots; a flipped bit, or another
    first root, fails."""
    first, second = pair
    _, nodes = _tree(second)
    proof = merkle.consistency_proof(first, second, nodes)
    old, new = merkle.root(first, nodes), merkle.root(second, nodes)
    assert verify.verify_consistency(first, second, old, new, proof)
    assert not verify.verify_consistency(first, second, merkle.leaf_hash(b"x"), new, proof)
    if proof:
        bad = bytearray(b"".join(proof))
        bad[flip % len(bad) // 8] ^= 1 << flip % 8
        broken = [bytes(bad[i : i + 32]) for i in range(0, len(bad), 32)]
        assert not verify.verify_consistency(first, second, old, new, broken)


@given(key_names, st.integers(0, 2**63), st.binary(min_size=32, max_size=32))
def test_checkpoints_signed_by_the_service_open(name: str, size: int, root: bytes) -> None:
    """A checkpoint the service signs opens with its verifier key and gives its size and root;
    any other size in the text breaks the signature."""
    from datetime import UTC, datetime

    signer = generate_signer(name)[0]
    text = format_checkpoint(name, size, root, [time_extension(datetime.now(UTC))])
    note = signer.sign(text)
    key = verify.parse_verifier_key(signer.verifier_key)
    assert key.key_id == signer.key_id
    opened = verify.open_checkpoint(note, key)
    assert (opened.origin, opened.size, opened.root) == (name, size, root)
    forged = note.replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
    with pytest.raises(verify.Untrusted, match="BAD SIGNATURE"):
        verify.open_checkpoint(forged, key)
    stranger = verify.parse_verifier_key(generate_signer(name)[0].verifier_key)
    with pytest.raises(verify.Untrusted, match="no signature by key"):
        verify.open_checkpoint(note, stranger)


def test_verifier_keys_with_a_wrong_id_are_refused() -> None:
    """A key id that does not match its name and key is refused before any note is read."""
    name, key_id, material = generate_signer("log.example/a")[0].verifier_key.split("+", 2)
    wrong = "00000000" if key_id != "00000000" else "00000001"
    with pytest.raises(verify.Untrusted, match="does not match"):
        verify.parse_verifier_key(f"{name}+{wrong}+{material}")
    assert base64.b64decode(material)[0] == 1


class _Quiet(http.server.BaseHTTPRequestHandler):
    """A test service's handler: answers with `send`, logs nothing."""

    def send(
        self, status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[Any]:
    """The verifier's Service for `handler` answering on a free 127.0.0.1 port."""
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield verify.Service(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()


class _Flaky(_Quiet):
    """Answers 503 (Retry-After: 0) to the first `unavailable` requests, then 200."""

    unavailable = 2
    seen = 0

    def do_GET(self) -> None:
        type(self).seen += 1
        if type(self).seen <= self.unavailable:
            self.send(503, headers=(("Retry-After", "0"),))
            return
        self.send(200, b'{"ok": true}')


@pytest.mark.parametrize(("unavailable", "answered"), [(2, True), (100, False)])
def test_service_waits_out_a_brief_503(unavailable: int, answered: bool) -> None:
    """A 503 with Retry-After (a database restarting behind the service) is retried a bounded
    number of times; a service that stays unavailable still ends the audit as Unavailable."""
    handler = type("Flaky", (_Flaky,), {"unavailable": unavailable, "seen": 0})
    with serving(handler) as service:
        if answered:
            assert service.json("/x") == {"ok": True}
            assert handler.seen == unavailable + 1
        else:
            with pytest.raises(verify.Unavailable, match="503"):
                service.json("/x")
            assert handler.seen == verify.UNAVAILABLE_ATTEMPTS


class _Pages(_Quiet):
    """/v1/tools in pages of one tool, `next` naming the following page; `loops` sends the
    last page's `next` back to the first."""

    slugs: tuple[str, ...] = ("alpha", "beta", "gamma")
    loops = False

    def do_GET(self) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        n = int(query.get("after", "0"))
        last = n + 1 == len(self.slugs)
        following = None if last and not self.loops else f"/v1/tools?after={0 if last else n + 1}"
        self.send(200, json.dumps({"tools": [{"slug": self.slugs[n]}], "next": following}).encode())


@pytest.mark.parametrize("loops", [False, True])
def test_every_slug_is_read_page_by_page(loops: bool) -> None:
    """all_slugs follows `next` to the last page; a list whose pages loop is Unavailable, not
    an audit that never ends."""
    handler = type("Pages", (_Pages,), {"loops": loops})
    with serving(handler) as service:
        if loops:
            with pytest.raises(verify.Unavailable, match="twice"):
                service.all_slugs()
        else:
            assert service.all_slugs() == ["alpha", "beta", "gamma"]


def _entry(slug: str, ballots: list[int], ship_pct: int = 50) -> dict[str, Any]:
    community = {"ship_pct": ship_pct, "ballots": [{"leaf_index": i} for i in ballots]}
    score = {"panel": {}, "community": {**community, "voids": []}}
    return {"tool": slug, "panel": {}, "score": score}


class _Scores(_Quiet):
    """/v1/audit/scores in the pages `pages` (a list of tool entries each), `after` the index."""

    pages: tuple[list[dict[str, Any]], ...] = ()

    def do_GET(self) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        n = int(query.get("after", "0"))
        following = str(n + 1) if n + 1 < len(self.pages) else None
        body = {"tools": self.pages[n], "next": following, "checkpoint": {"note": "cp\n\n— sig\n"}}
        self.send(200, json.dumps(body).encode())


def test_score_pages_join_a_tool_split_across_pages() -> None:
    """A tool whose ballots continue on the next page comes once, its ballots joined in order;
    a later part whose figures differ from the first is flagged, and pages out of slug order
    are BadAnswer (a FAILED verdict)."""
    pages = [[_entry("a", [1]), _entry("b", [2, 3])], [_entry("b", [5])], [_entry("c", [])]]
    with serving(type("Scores", (_Scores,), {"pages": pages})) as service:
        found = list(service.scores(10))
    assert [(f.entry["tool"], f.parts_agree, f.notes) for f in found] == [
        ("a", True, {"cp\n"}),
        ("b", True, {"cp\n"}),
        ("c", True, {"cp\n"}),
    ]
    assert found[1].entry == _entry("b", [2, 3, 5])
    pages = [[_entry("b", [2])], [_entry("b", [3], ship_pct=100)]]
    with serving(type("Scores", (_Scores,), {"pages": pages})) as service:
        assert [f.parts_agree for f in service.scores(10)] == [False]
    pages = [[_entry("b", [])], [_entry("a", [])]]
    with (
        serving(type("Scores", (_Scores,), {"pages": pages})) as service,
        pytest.raises(verify.BadAnswer, match="slug order"),
    ):
        list(service.scores(10))


class _Endless(_Scores):
    """/v1/audit/scores that sends tool "b" for ever, each page with a fresh cursor: with one
    more ballot each (`ballots`) or with none."""

    ballots = True

    def do_GET(self) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        n = int(query.get("after", "0"))
        entry = _entry("b", [n] if self.ballots else [])
        body = {"tools": [entry], "next": str(n + 1), "checkpoint": {"note": "cp\n\n— sig\n"}}
        self.send(200, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("ballots", "refusal"),
    [(True, "more ballots than the 10 leaves"), (False, "continues on a page with no ballots")],
)
def test_score_pages_must_make_progress(ballots: bool, refusal: str) -> None:
    """One tool sent for ever with fresh cursors fails the audit (BadAnswer): a part that
    adds no ballots at once, one that adds some once there are more ballots than leaves."""
    with (
        serving(type("Endless", (_Endless,), {"ballots": ballots})) as service,
        pytest.raises(verify.BadAnswer, match=refusal),
    ):
        list(service.scores(10))


class _Block:
    """A response read in the blocks given, as http.client's read(n) gives them."""

    def __init__(self, body: bytes, block: int) -> None:
        self.body, self.block, self.at = body, block, 0

    def read(self, n: int) -> bytes:
        got = self.body[self.at : self.at + min(n, self.block)]
        self.at += len(got)
        return got


def _lines(response: _Block) -> list[bytes]:
    return [line for lines in verify._split_lines(response) for line in lines]


@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    st.booleans(),
    st.integers(1, 50),
)
def test_lines_are_cut_as_split_cuts_them(lines: list[bytes], newline: bool, block: int) -> None:
    """Whatever the blocks, the lines are the body's split at its newlines (the last one kept
    when it has none, none when the body is empty)."""
    body = b"\n".join(lines) + (b"\n" if newline and lines else b"")
    expected = body.split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    assert _lines(_Block(body, block)) == expected


def test_a_line_past_the_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line longer than MAX_LINE (one with no newline at all, or one ending past it) is
    BadAnswer (a FAILED verdict), not held whole; a line at the bound passes."""
    monkeypatch.setattr(verify, "MAX_LINE", 1000)
    monkeypatch.setattr(verify, "READ_BLOCK", 64)
    assert _lines(_Block(b"x" * 1000 + b"\ny", 64)) == [b"x" * 1000, b"y"]
    for body in (b"x" * 5000, b"x" * 1001 + b"\n"):
        with pytest.raises(verify.BadAnswer, match="longer than 1000 bytes"):
            _lines(_Block(body, 64))


def test_an_export_line_past_the_bound_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """An export file's lines after its header: a line at MAX_LINE passes with its newline; one
    past it (here with no newline at all) is BadAnswer naming its line and leaf, and no more
    than MAX_LINE + 1 bytes of it were read."""
    monkeypatch.setattr(verify, "MAX_LINE", 1000)
    good = b"x" * 1000 + b"\n"
    f = io.BytesIO(good + b"y" * 50_000)
    lines = verify.export_lines(f, "ledger.ndjson")
    assert next(lines) == good
    with pytest.raises(verify.BadAnswer, match=r"^ledger.ndjson: line 3 \(leaf 1\) is longer"):
        next(lines)
    assert f.tell() <= len(good) + 1001
    assert list(verify.export_lines(io.BytesIO(good + b"z"), "f")) == [good, b"z"]


def test_a_leaf_worker_that_dies_is_reported_with_its_exit_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker gone before it read its lines (here `false`, exit 1): the audit stops with
    the worker's exit code, not a BrokenPipeError from the pipe it left."""
    monkeypatch.setattr(verify.sys, "executable", "/bin/false")
    lines = (b'{"leaf_index": %d}' % i + b" " * 200 for i in range(20_000))
    with pytest.raises(verify.Unavailable, match=r"leaf worker process failed \(exit 1\)"):
        verify._leaf_check_beside(lines, [(20_000, bytes(32))], set(), verify.Replay())


@given(st.integers(0, 200), st.integers(2, 60), st.integers(0, 2**32))
def test_the_tool_sample_holds_the_ends(count: int, n: int, seed: int) -> None:
    """At most n tools, in order, none twice, the first and last always among them."""
    slugs = [f"t{i:03}" for i in range(count)]
    sampled = verify.sample_tools(slugs, random.Random(seed), n)
    assert sampled == sorted(set(sampled)) and len(sampled) == min(n, count)
    if slugs:
        assert sampled[0] == slugs[0] and sampled[-1] == slugs[-1]


class _Export(_Quiet):
    """/v1/audit/events of a log of `log` leaves (line i is b"leaf i"), pages cut at `most`
    lines whatever the limit asked (a server may answer less), every request counted."""

    log = 0
    most = 1_000_000
    asked: ClassVar[list[tuple[int, int]]] = []

    def do_GET(self) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        after, limit = int(query["after"]), int(query["limit"])
        self.asked.append((after, limit))
        end = min(self.log, after + limit, after + self.most)
        self.send(200, b"".join(b"leaf %d\n" % i for i in range(after, end)))


@pytest.fixture(scope="module")
def export_service() -> Iterator[tuple[type[_Export], Any]]:
    """One export service for every example (a server's shutdown waits out its poll)."""
    handler = type("Export", (_Export,), {"asked": []})
    with serving(handler) as service:
        yield handler, service


@given(
    log=st.integers(0, 60),
    size=st.integers(0, 60),
    page=st.integers(1, 25),
    most=st.integers(1, 30),
)
def test_export_pages_asked_ahead_give_every_leaf_once_in_order(
    export_service: tuple[type[_Export], Any], log: int, size: int, page: int, most: int
) -> None:
    """Service.lines asks for the next page while it reads one: whatever the page size, the
    log's length and how short the server cuts its pages, it yields leaves 0 .. size - 1 (as
    many as the log has) in order, each once, and stops at the first empty page."""
    handler, service = export_service
    handler.log, handler.most = log, most
    handler.asked.clear()
    got = list(service.lines(size, page=page))
    assert got == [b"leaf %d" % i for i in range(min(log, size))]
    assert all(limit <= page for _, limit in handler.asked)
    assert len(handler.asked) <= 2 * (size // max(1, min(page, most)) + 2)
