"""Write docs/api-examples.md: one real request and its real answer for every route of the HTTP
API, made in order against a fresh demo ledger through the app itself (no server, no network).

    .venv/bin/python scripts/api_examples.py            # rewrite docs/api-examples.md
    .venv/bin/python scripts/api_examples.py --check    # exit 1 when the file is out of date

Answers are shortened for reading (lists keep their first two items, long strings their start)
and volatile values (times, hashes, keys, ids) print as the service gave them this run, so the
check compares what does not change between runs: each request, each status and each answer's
shape. tests/scripts/test_api_examples.py runs the check and fails on a route with no example."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402 - after the path insert

from api.app import create_app  # noqa: E402
from api.bootstrap import open_runtime  # noqa: E402
from domain.seeding import seed_demo  # noqa: E402
from domain.settings import Settings  # noqa: E402

OUT = ROOT / "docs" / "api-examples.md"
Found = dict[str, Any]


@dataclass(frozen=True)
class Example:
    method: str
    route: str  # as OpenAPI names it
    path: str  # with {names} filled from what earlier answers found
    body: dict[str, Any] | None = None
    who: str | None = None  # "voter" | "editor" | "moderator"
    keep: Callable[[Found, Any], None] = field(default=lambda found, answer: None)


def _keep_voter(found: Found, answer: Any) -> None:
    found.update(voter_id=answer["voter_id"], voter=answer["token"])


def _keep_checkpoint(found: Found, answer: Any) -> None:
    found["size"] = int(answer.splitlines()[1])


TOOL, OTHER, NEW = "smollm3", "claude-files-api", "example-notebook"
REASON = {"reason": "Example: the vendor renamed the plan"}
EXAMPLES = [
    Example("POST", "/v1/voters", "/v1/voters", keep=_keep_voter),
    Example("PUT", "/v1/tools/{slug}/vote", f"/v1/tools/{TOOL}/vote", {"choice": "ship"}, "voter"),
    Example("GET", "/v1/tools", "/v1/tools?limit=1&order=newest"),
    Example("GET", "/v1/tools/{slug}", f"/v1/tools/{TOOL}"),
    Example("GET", "/v1/tools/{slug}/history", f"/v1/tools/{TOOL}/history"),
    Example("GET", "/v1/compare/{left}/{right}", f"/v1/compare/{OTHER}/{TOOL}"),
    Example(
        "GET",
        "/v1/tools/{slug}/verdicts/{seat}/history",
        f"/v1/tools/{TOOL}/verdicts/builder/history",
    ),
    Example("GET", "/v1/comparisons", "/v1/comparisons?limit=1"),
    Example(
        "POST",
        "/v1/tools",
        "/v1/tools",
        {
            "slug": NEW,
            "name": "Example Notebook",
            "category": "Developer tools",
            "tagline": "A notebook that keeps every run",
            "description": "An invented tool for this page: it records each cell's inputs.",
            "pricing": "Free",
        },
        "editor",
    ),
    Example(
        "PATCH",
        "/v1/tools/{slug}",
        f"/v1/tools/{NEW}",
        {"pricing": "Paid", **REASON},
        "editor",
    ),
    Example(
        "PUT",
        "/v1/tools/{slug}/verdicts/{seat}",
        f"/v1/tools/{NEW}/verdicts/builder",
        {
            "reviewer": "Builder",
            "decision": "ship",
            "text": "Runs offline and exports clean files.",
        },
        "editor",
    ),
    Example(
        "DELETE",
        "/v1/tools/{slug}/verdicts/{seat}",
        f"/v1/tools/{NEW}/verdicts/builder",
        {"reason": "Example: written before the last release"},
        "editor",
    ),
    Example("POST", "/v1/comparisons", "/v1/comparisons", {"left": NEW, "right": TOOL}, "editor"),
    Example(
        "DELETE",
        "/v1/comparisons/{left}/{right}",
        f"/v1/comparisons/{NEW}/{TOOL}",
        {"reason": "Example: the pair is no longer useful"},
        "editor",
    ),
    Example(
        "POST",
        "/v1/moderation/voids",
        "/v1/moderation/voids",
        {
            "tool": TOOL,
            "voters": ["{voter_id}"],
            "reason": "Example",
            "rule": "one-person-one-vote",
        },
        "moderator",
    ),
    Example(
        "POST",
        "/v1/moderation/restores",
        "/v1/moderation/restores",
        {
            "tool": TOOL,
            "voters": ["{voter_id}"],
            "reason": "Example: appeal upheld",
            "rule": "appeal",
        },
        "moderator",
    ),
    Example("DELETE", "/v1/tools/{slug}/vote", f"/v1/tools/{TOOL}/vote", None, "voter"),
    Example("DELETE", "/v1/tools/{slug}", f"/v1/tools/{NEW}", REASON, "editor"),
    Example("GET", "/v1/audit/public-key", "/v1/audit/public-key"),
    Example("GET", "/v1/audit/checkpoint", "/v1/audit/checkpoint", keep=_keep_checkpoint),
    Example("GET", "/v1/audit/checkpoints", "/v1/audit/checkpoints?limit=1"),
    Example("GET", "/v1/audit/proofs/inclusion", "/v1/audit/proofs/inclusion?position=5"),
    Example("GET", "/v1/audit/leaves", "/v1/audit/leaves?index=4&index=20"),
    Example("GET", "/v1/audit/proofs/tlog-proof", "/v1/audit/proofs/tlog-proof?position=5"),
    Example(
        "GET",
        "/v1/audit/proofs/consistency",
        "/v1/audit/proofs/consistency?first=10&second={size}",
    ),
    Example("GET", "/v1/audit/witnesses", "/v1/audit/witnesses"),
    Example("GET", "/v1/audit/events", "/v1/audit/events?after=4&limit=1"),
    Example("GET", "/v1/tools/{slug}/score-proof", f"/v1/tools/{TOOL}/score-proof?size={{size}}"),
    Example("GET", "/v1/audit/scores", "/v1/audit/scores?size={size}&limit=2"),
]


def _fill(value: Any, found: Found) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: str(found.get(m[1], m[0])), value)
    if isinstance(value, list):
        return [_fill(v, found) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, found) for k, v in value.items()}
    return value


def _short(value: Any) -> Any:
    """The answer as a reader needs it: two items of a list, the start of a long string."""
    if isinstance(value, list):
        return [_short(v) for v in value[:2]] + (["…"] if len(value) > 2 else [])
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, str) and len(value) > 60:
        return value[:57] + "…"
    return value


def _shape(value: Any) -> Any:
    """What stays the same from run to run: keys and kinds, not values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):  # its items' kinds, not how many (proof lengths vary)
        return sorted({json.dumps(_shape(v)) for v in value if v != "…"})
    return type(value).__name__


def run_examples() -> list[dict[str, Any]]:
    """Each example's request and answer, made in order on a fresh demo ledger."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite:///{folder}/ledger.db")
        runtime = open_runtime(settings)
        try:
            seed_demo(runtime.ledger)
            found: Found = {
                "editor": runtime.credentials.create_key("ann"),
                "moderator": runtime.credentials.create_key("mo", "moderator"),
            }
        finally:
            runtime.close()
        done = []
        with TestClient(create_app(settings)) as client:
            for example in EXAMPLES:
                if example.route.startswith("/v1/audit/"):  # a checkpoint that holds every write
                    _wait_for_checkpoint(client, found.get("end", 1))
                path, body = _fill(example.path, found), _fill(example.body, found)
                headers = {"Authorization": f"Bearer {found[example.who]}"} if example.who else {}
                answer = client.request(example.method, path, json=body, headers=headers)
                text = answer.headers.get("content-type", "").startswith("text/")
                content = answer.text if text else answer.json()
                if answer.is_success:
                    example.keep(found, content)
                    receipt = content.get("receipt") if isinstance(content, dict) else None
                    if receipt and receipt["position"]:
                        found["end"] = max(found.get("end", 0), receipt["position"])
                done.append(
                    {
                        "route": f"{example.method} {example.route}",
                        "request": f"{example.method} {path}",
                        "who": example.who,
                        "body": body,
                        "status": answer.status_code,
                        "type": answer.headers.get("content-type", ""),
                        "answer": content,
                    }
                )
        return done


def _wait_for_checkpoint(client: TestClient, size: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        answer = client.get("/v1/audit/checkpoint")
        if answer.status_code == 200 and int(answer.text.splitlines()[1]) >= size:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"api_examples: no checkpoint of size {size} in 30 s")
        time.sleep(0.1)


def render(done: list[dict[str, Any]]) -> str:
    parts = [
        "# HTTP API examples\n\n",
        "One real request and answer per route, made in this order on a fresh demo ledger by\n",
        "`scripts/api_examples.py` (answers shortened: two items per list, long strings cut).\n",
        "The routes, roles and errors are described in [api.md](api.md). A voter's token comes\n",
        "from `POST /v1/voters`, an editor's or moderator's key from `verdict keys create`.\n",
    ]
    for d in done:
        parts.append(f"\n## `{d['route']}`\n\n```http\n{d['request']}\n")
        if d["who"]:
            parts.append(f"Authorization: Bearer …({d['who']})\n")
        if d["body"] is not None:
            parts.append(f"\n{json.dumps(d['body'], ensure_ascii=False)}\n")
        parts.append(f"```\n\n```\n{d['status']} {d['type']}\n\n")
        if isinstance(d["answer"], str):
            lines = d["answer"].splitlines()
            parts.append("\n".join(lines[:8]) + ("\n…" if len(lines) > 8 else "") + "\n")
        else:
            parts.append(json.dumps(_short(d["answer"]), indent=1, ensure_ascii=False) + "\n")
        parts.append("```\n")
    return "".join(parts)


def skeleton(text: str) -> list[tuple[str, str, str]]:
    """(request, status line, answer shape) of each example in a rendered file: what stays
    the same from run to run (a checkpoint's size depends on when the ledger signed it)."""
    found = re.findall(r"```http\n(\S+ \S+)\n.*?```\n\n```\n(\d{3} [^\n]*)\n\n(.*?)```", text, re.S)
    out = []
    for request, status, answer in found:
        try:
            shape = json.dumps(_shape(json.loads(answer)))
        except json.JSONDecodeError:
            shape = "text"
        out.append((re.sub(r"\d+", "N", request), status, shape))  # sizes vary by run
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with docs/api-examples.md")
    args = parser.parse_args(argv)
    fresh = render(run_examples())
    if not args.check:
        OUT.write_text(fresh)
        print(f"wrote {OUT.relative_to(ROOT)}")
        return 0
    old = OUT.read_text() if OUT.exists() else ""
    if skeleton(old) != skeleton(fresh):
        print("docs/api-examples.md is out of date: run scripts/api_examples.py")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
