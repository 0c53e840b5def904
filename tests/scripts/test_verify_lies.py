"""scripts/verify.py against a real `verdict serve` behind a proxy that lies: the log stays
honest, the figures the API shows do not, and each lie fails the audit with its own failure."""

from __future__ import annotations

import contextlib
import copy
import http.server
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from domain.settings import Settings
from tests.scripts.serving_audit import random_votes, serving, settle, verify

Lie = Callable[[str, dict[str, str], Any], Any]
"""(path, query, the honest JSON answer) -> the answer the proxy gives instead: JSON, or
`Raw` bytes sent as they are."""


class Raw(bytes):
    """A body sent as is, not as JSON, with `status`; `cut`: with a Content-Length that many
    bytes longer, the connection then closed (an answer lost on the way)."""

    status = 200
    cut = 0


class Cut(Raw):
    cut = 100


class Failing(Raw):
    status = 500


TOOL = "smollm3"
"""The tool the lies are told about: random_votes gives it ballots."""


@contextlib.contextmanager
def lying(upstream: str, lie: list[Lie]) -> Iterator[str]:
    """A proxy's URL: GETs go to `upstream`, JSON answers come back through `lie[0]`."""

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                with urllib.request.urlopen(upstream + self.path, timeout=30) as r:  # noqa: S310 - the test's own server
                    status, kind, body = r.status, r.headers["Content-Type"], r.read()
            except urllib.error.HTTPError as e:
                status, kind, body = e.code, e.headers["Content-Type"], e.read()
            if status == 200 and kind.startswith("application/json"):
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                told = lie[0](parts.path, query, json.loads(body))
                status = told.status if isinstance(told, Raw) else status
                body = told if isinstance(told, Raw) else json.dumps(told).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body) + getattr(body, "cut", 0)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def on_scores(change: Callable[[dict[str, Any]], None]) -> Lie:
    """A lie told on every score page: `change` edits the page in place."""

    def lie(path: str, query: dict[str, str], answer: Any) -> Any:
        if path == "/v1/audit/scores":
            change(answer)
        return answer

    return lie


def on_tool(change: Callable[[dict[str, Any]], None]) -> Lie:
    """A lie told on TOOL's score-page entry (whichever page it is on)."""

    def page(answer: dict[str, Any]) -> None:
        for entry in answer["tools"]:
            if entry["tool"] == TOOL:
                change(entry)

    return on_scores(page)


def drop_ballot(entry: dict[str, Any]) -> None:
    entry["score"]["community"]["ballots"].pop()


def change_figure(entry: dict[str, Any]) -> None:
    entry["score"]["community"]["ship"] += 1


def change_note(answer: dict[str, Any]) -> None:
    answer["checkpoint"]["note"] = answer["checkpoint"]["note"].replace("\n", " \n", 1)


def split_disagreeing(answer: dict[str, Any]) -> None:
    """TOOL in two parts on its page, its ballots split between them (joined they are the
    honest list), the second part claiming another status."""
    tools = answer["tools"]
    for i, entry in enumerate(tools):
        if entry["tool"] == TOOL:
            later = copy.deepcopy(entry)
            ballots = entry["score"]["community"]["ballots"]
            entry["score"]["community"]["ballots"] = ballots[:1]
            later["score"]["community"]["ballots"] = ballots[1:]
            later["score"]["community"]["voids"] = []
            later["status"] = "delisted"
            tools.insert(i + 1, later)
            return


def drop_tool(answer: dict[str, Any]) -> None:
    answer["tools"] = [e for e in answer["tools"] if e["tool"] != TOOL]


def tool_page(path: str, query: dict[str, str], answer: Any) -> Any:
    """TOOL's own page as of a size shows one more ship than it has."""
    if path == f"/v1/tools/{TOOL}" and "as_of" in query:
        answer["community"]["ship"] += 1
    return answer


def failures(url: str) -> list[str]:
    code, out = verify(url, "--json", "--no-state")
    report = json.loads(out)
    assert code == (0 if report["ok"] else 1), out
    return list(report["failures"])


def test_each_lie_of_the_api_fails_the_audit(settings: Settings, tmp_path: Path) -> None:
    """Through the proxy telling the truth the audit passes; each lie (a ballot dropped from a
    score page, a figure changed, another checkpoint note, a split tool whose parts disagree, a
    tool left out, a tool page as of N that is not the score pages') fails it with its own
    failure, and that one only."""
    lie: list[Lie] = [lambda path, query, answer: answer]
    with serving(settings, tmp_path / "serve.log") as served, lying(served.url, lie) as url:
        settle(served, random_votes(served, 40))
        assert failures(url) == []
        size = r"at size \d+"
        expected: list[tuple[Lie, str]] = [
            (on_tool(drop_ballot), rf"tool '{TOOL}' {size}: score-proof ballots published "),
            (on_tool(change_figure), rf"tool '{TOOL}' {size}: community published "),
            (
                on_scores(split_disagreeing),
                rf"tool '{TOOL}': its parts on the score pages disagree",
            ),
            (on_scores(drop_tool), rf"tool '{TOOL}': the API does not know it {size}"),
            (tool_page, rf"tool '{TOOL}': its page \(as_of=\d+\) publishes community "),
        ]
        for told, failure in expected:
            lie[0] = told
            found = failures(url)
            assert len(found) == 1 and re.match(failure, found[0]), (failure, found)
        lie[0] = on_scores(change_note)
        found = failures(url)
        assert found and all(
            re.fullmatch(r"tool '[\w-]+': its score proof rests on another checkpoint", f)
            for f in found
        ), found
        assert f"tool '{TOOL}': its score proof rests on another checkpoint" in found


def on_page(told: Callable[[dict[str, Any]], Any]) -> Lie:
    """The score page's whole answer replaced by `told`'s."""

    def lie(path: str, query: dict[str, str], answer: Any) -> Any:
        return told(answer) if path == "/v1/audit/scores" else answer

    return lie


def stalling(answer: dict[str, Any]) -> None:
    """TOOL again right after itself, as its continuation, with none of its ballots."""
    tools = answer["tools"]
    for i, entry in enumerate(tools):
        if entry["tool"] == TOOL:
            again = copy.deepcopy(entry)
            again["score"]["community"]["ballots"] = []
            again["score"]["community"]["voids"] = []
            tools.insert(i + 1, again)
            return


def test_a_malformed_score_page_fails_the_audit(settings: Settings, tmp_path: Path) -> None:
    """A score page that came whole but is no honest page (not JSON, another shape, a tool's
    continuation adding nothing) is a FAILED verdict (exit 1) naming what was wrong, not an
    audit that could not be completed; a page lost on the way (cut short) or refused (500)
    is: exit 2, no verdict."""
    lie: list[Lie] = [lambda path, query, answer: answer]
    with serving(settings, tmp_path / "serve.log") as served, lying(served.url, lie) as url:
        settle(served, random_votes(served, 20))
        assert failures(url) == []
        page = "GET /v1/audit/scores: a page"
        expected: list[tuple[Lie, str]] = [
            (on_page(lambda _: Raw(b'{"tools": [')), f"{page} that is not JSON"),
            (on_page(lambda _: [1, 2]), f"{page} that is not an object"),
            (
                on_page(lambda a: {**a, "tools": {TOOL: a["tools"]}}),
                f"{page} whose tools are not a list",
            ),
            (on_page(lambda a: {**a, "next": 7}), f"{page} whose next is not a cursor or null"),
            (
                on_page(lambda a: {**a, "checkpoint": "cp"}),
                f"{page} whose checkpoint is not an object",
            ),
            (
                on_scores(lambda a: a["tools"].insert(1, TOOL)),
                f"{page} whose tool 1 is not an object",
            ),
            (
                on_tool(lambda e: e.update(score=[])),
                rf"{page} whose tool \d+ \('{TOOL}'\) has no score object",
            ),
            (
                on_tool(lambda e: e["score"]["community"].update(ballots=None)),
                rf"{page} whose tool \d+ \('{TOOL}'\) has no score.community.ballots list",
            ),
            (
                on_scores(stalling),
                f"GET /v1/audit/scores: tool '{TOOL}' continues on a page with no ballots of it",
            ),
        ]
        for told, failure in expected:
            lie[0] = told
            found = failures(url)
            assert len(found) == 1 and re.fullmatch(failure, found[0]), (failure, found)
        for told in (
            on_page(lambda a: Cut(json.dumps(a).encode())),
            on_page(lambda _: Failing(b"{}")),
        ):
            lie[0] = told
            code, out = verify(url, "--json", "--no-state")
            assert code == 2 and "cannot complete the audit" in out and "VERDICT" not in out, out
