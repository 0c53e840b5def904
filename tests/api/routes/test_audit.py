"""The audit API on SQLite and PostgreSQL: checkpoints verify, proofs verify, receipts are
provable, time travel and score proofs agree with a replay of the log."""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson
from fastapi.testclient import TestClient

from api.bootstrap import open_runtime
from api.routes.audit import MAX_LEAVES
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.audit import merkle
from projections.audit.signed_note import open_note, parse_checkpoint
from projections.catalog.fold import fold_catalog
from projections.catalog.paging import encode_cursor
from projections.catalog.score_pages import SCOPE as SCORES_SCOPE
from projections.catalog.views import CATALOG, CatalogProjection
from projections.following.follower import Follower
from projections.following.rebuild import read_events, rebuild, rebuild_together
from projections.records import canonical_json
from tests.scripts.serving_audit import EventTable


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def signed_size(client: TestClient, at_least: int) -> int:
    """Wait (bounded) until the log has signed a checkpoint of at least `at_least` events and
    the catalog views hold that many (the audit log may sign before the catalog commits: a
    score route then answers 422, retry shortly)."""
    deadline = time.monotonic() + 10
    while True:
        response = client.get("/v1/audit/checkpoint")
        if response.status_code == 200:
            size = parse_checkpoint(response.text.split("\n\n")[0] + "\n").size
            reached = client.get("/v1/audit/scores", params={"size": size, "limit": 1})
            if size >= at_least and reached.status_code == 200:
                return size
        assert time.monotonic() < deadline, "no checkpoint covers the writes in 10 s"
        time.sleep(0.02)


def vote(client: TestClient, slug: str, choice: str) -> dict[str, Any]:
    token = client.post("/v1/voters").json()["token"]
    response = client.put(
        f"/v1/tools/{slug}/vote",
        json={"choice": choice},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


def test_checkpoint_is_signed_by_the_published_key(client: TestClient) -> None:
    """The latest checkpoint opens with the served verifier key and names the log's size."""
    size = signed_size(client, 41)
    key = client.get("/v1/audit/public-key").json()
    note = client.get("/v1/audit/checkpoint").text
    checkpoint = parse_checkpoint(open_note(note, key["verifier_key"]))
    assert checkpoint.size == size
    assert checkpoint.origin == key["key_name"]
    assert checkpoint.time is not None
    listed = client.get("/v1/audit/checkpoints").json()["checkpoints"]
    assert listed[-1]["note"] == note
    assert [c["size"] for c in listed] == sorted({c["size"] for c in listed})


def test_vote_receipt_is_provable_in_a_later_checkpoint(client: TestClient) -> None:
    """A vote's receipt (position + leaf hash) has an inclusion proof in a later checkpoint,
    and flipping one bit of the proof breaks it."""
    receipt = vote(client, "smollm3", "ship")["receipt"]
    later = vote(client, "smolvlm2-turbo", "skip")["receipt"]
    size = signed_size(client, 43)
    proof = client.get(
        "/v1/audit/proofs/inclusion", params={"position": receipt["position"], "size": size}
    ).json()
    assert proof["leaf_hash"] == receipt["leaf_hash"]
    assert proof["checkpoint"]["size"] >= size
    leaf, path, root = (
        b64(receipt["leaf_hash"]),
        [b64(p) for p in proof["proof"]],
        b64(proof["root"]),
    )
    assert merkle.verify_inclusion(leaf, proof["leaf_index"], size, path, root)
    tampered = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
    assert not merkle.verify_inclusion(leaf, proof["leaf_index"], size, tampered, root)
    assert later["position"] > receipt["position"]


def test_consistency_proofs_link_every_pair_of_checkpoints(client: TestClient) -> None:
    """Consistency proofs between sizes verify against the roots the log reports."""
    for choice in ("ship", "skip", "ship"):
        vote(client, "smollm3", choice)
    size = signed_size(client, 44)
    for first in (1, 7, 41, size):
        body = client.get(
            "/v1/audit/proofs/consistency", params={"first": first, "second": size}
        ).json()
        assert merkle.verify_consistency(
            first,
            size,
            b64(body["first_root"]),
            b64(body["second_root"]),
            [b64(p) for p in body["proof"]],
        )
    bad = client.get("/v1/audit/proofs/consistency", params={"first": 5, "second": 4})
    assert bad.status_code == 422 and bad.json()["field"] == "first"


def test_export_lines_rebuild_the_signed_root(client: TestClient) -> None:
    """Recomputing every leaf from the export gives the recorded hashes and the signed root."""
    vote(client, "claude-files-api", "skip")
    size = signed_size(client, 42)
    lines = client.get("/v1/audit/events", params={"after": 0, "limit": size}).text.splitlines()
    assert len(lines) == size
    tree = merkle.CompactRange()
    for i, line in enumerate(map(orjson.loads, lines)):
        assert line["leaf_index"] == i
        leaf = merkle.leaf_hash(orjson.dumps(line["event"], option=orjson.OPT_SORT_KEYS))
        assert base64.b64encode(leaf).decode() == line["leaf_hash"]
        tree.append(leaf)
    proof = client.get("/v1/audit/proofs/inclusion", params={"index": 0, "size": size}).json()
    assert base64.b64encode(tree.root()).decode() == proof["root"]
    tail = client.get("/v1/audit/events", params={"after": size - 1, "limit": 5}).text
    assert len(tail.splitlines()) == 1


def test_time_travel_history_and_score_proof_agree_with_replay(client: TestClient) -> None:
    """as_of=N equals a fold of the first N events; the timeline and the score proof name the
    leaves the figures rest on."""
    vote(client, "smollm3", "skip")
    vote(client, "smollm3", "ship")
    size = signed_size(client, 43)
    ledger = client.app.state.runtime.ledger  # type: ignore[attr-defined]  # TestClient.app: any ASGI app
    events = list(read_events(ledger.recorder))[:size]
    for n in (24, 41, 42, size):
        client.get("/v1/tools/smollm3", params={"min_position": events[n - 1].position})
        past = client.get("/v1/tools/smollm3", params={"as_of": n}).json()
        expected = fold_catalog(events[:n]).tools["smollm3"].document()
        assert {k: v for k, v in past.items() if k != "as_of"} == expected
        assert past["as_of"] == {"size": n}
    early = client.get("/v1/tools/smollm3", params={"as_of": 1})
    assert early.status_code == 404
    both = client.get("/v1/tools/smollm3", params={"as_of": 3, "at": "2026-01-01T00:00:00Z"})
    assert both.status_code == 422
    history = client.get("/v1/tools/smollm3/history").json()["points"]
    assert [p["kind"] for p in history[-2:]] == ["Ballot.Cast", "Ballot.Cast"]
    assert history[-1]["community"] == {
        "ship": 1,
        "skip": 1,
        "total": 2,
        "ship_pct": 50,
        "voided": 0,
    }
    proof = client.get("/v1/tools/smollm3/score-proof", params={"size": size}).json()
    assert proof["community"]["total"] == 2
    assert sorted(b["leaf_index"] for b in proof["community"]["ballots"]) == [
        p["leaf_index"] for p in history[-2:]
    ]
    assert [v["seat"] for v in proof["panel"]["verdicts"] if v["decision"] == "skip"] == ["buyer"]
    assert proof["checkpoint"]["size"] >= size


def test_rebuilding_the_log_reproduces_every_signed_checkpoint(settings: Settings) -> None:
    """After a rebuild from zero, every stored checkpoint's root is reproduced."""
    runtime = open_runtime(settings)
    try:
        seed_demo(runtime.ledger)
        projection = runtime.audit_projection()
        rebuild(runtime.ledger.recorder, projection, page_size=10)
        first = runtime.audit.latest_checkpoint()
        assert first is not None and first.size == 41
        runtime.ledger.vote("smollm3", "voter:v1", "ship")
        rebuild(runtime.ledger.recorder, runtime.audit_projection(), page_size=7)
        assert runtime.audit.mismatched_checkpoints() == []
        assert [c.size for c in runtime.audit.checkpoints()] == [41, 42]
        assert runtime.audit.root(41) == first.root
        Follower(runtime.ledger.recorder, CatalogProjection(runtime.views)).catch_up()
        before = (runtime.views.tool_documents(CATALOG), runtime.audit.root(42))
        assert rebuild_together(runtime.ledger.recorder, runtime.projections(), page_size=4) == 42
        assert (runtime.views.tool_documents(CATALOG), runtime.audit.root(42)) == before
        assert runtime.audit.mismatched_checkpoints() == []
    finally:
        runtime.close()


def test_leaves_answer_a_score_proofs_leaves_with_events_and_proofs(
    client: TestClient, settings: Settings
) -> None:
    """/v1/audit/leaves gives each named leaf as the export shows it, the position the log
    recorded and an inclusion proof to the checkpoint's root; an event changed behind the
    service's back still comes as stored, so it no longer hashes to the recorded leaf."""
    vote(client, "smollm3", "skip")
    size = signed_size(client, 42)
    proof = client.get("/v1/tools/smollm3/score-proof", params={"size": size}).json()
    indexes = [v["leaf_index"] for v in proof["panel"]["verdicts"]]
    indexes += [b["leaf_index"] for b in proof["community"]["ballots"]]
    answer = client.get("/v1/audit/leaves", params={"index": indexes, "size": size}).json()
    assert (answer["size"], answer["checkpoint"]["size"]) == (size, proof["checkpoint"]["size"])
    root = b64(answer["root"])
    assert [leaf["leaf_index"] for leaf in answer["leaves"]] == sorted(indexes)
    for leaf in answer["leaves"]:
        i = leaf["leaf_index"]
        exported = orjson.loads(
            client.get("/v1/audit/events", params={"after": i, "limit": 1}).text
        )
        assert {k: v for k, v in leaf.items() if k not in ("position", "proof")} == exported
        assert leaf["position"] == leaf["event"]["position"]
        recomputed = merkle.leaf_hash(canonical_json(leaf["event"]))
        assert recomputed == b64(leaf["leaf_hash"])
        path = [b64(h) for h in leaf["proof"]]
        assert merkle.verify_inclusion(recomputed, i, size, path, root)

    ballot = answer["leaves"][-1]
    table = EventTable(settings)
    state = orjson.loads(table.state(ballot["position"]))
    table.set_state(ballot["position"], orjson.dumps({**state, "choice": "ship"}))
    again = client.get("/v1/audit/leaves", params={"index": ballot["leaf_index"], "size": size})
    changed = again.json()["leaves"][0]
    assert changed["event"]["state"]["choice"] == "ship"
    assert changed["leaf_hash"] == ballot["leaf_hash"], "the log's record stays"
    assert merkle.leaf_hash(canonical_json(changed["event"])) != b64(ballot["leaf_hash"])


def test_leaves_refuse_what_they_cannot_answer(client: TestClient) -> None:
    """No index, too many, one past the tree, a negative one: 422 naming `index`."""
    size = signed_size(client, 41)
    for params in (
        {},
        {"index": list(range(MAX_LEAVES + 1))},
        {"index": [0, size], "size": size},
        {"index": [-1]},
    ):
        answer = client.get("/v1/audit/leaves", params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["field"].startswith("index"), answer.json()


def test_score_pages_answer_what_the_per_tool_routes_answer(client: TestClient) -> None:
    """/v1/audit/scores, page after page at a signed size: every tool once, in slug order, with
    the status and panel of `/tools/{slug}?as_of=` and the figures and leaves of its score
    proof; a cursor from another size, or one that does not decode, is a 422 problem."""
    vote(client, "smollm3", "ship")
    vote(client, "smollm3", "skip")
    size = signed_size(client, 43)
    seen, params = [], {"size": size, "limit": 2}
    while True:
        page = client.get("/v1/audit/scores", params=params)
        assert page.status_code == 200 and len(page.content) <= 200_000
        body = page.json()
        assert body["size"] == size and 1 <= len(body["tools"]) <= 2
        assert body["checkpoint"]["size"] >= size
        for entry in body["tools"]:
            slug = entry["tool"]
            doc = client.get(f"/v1/tools/{slug}", params={"as_of": size}).json()
            proof = client.get(f"/v1/tools/{slug}/score-proof", params={"size": size}).json()
            assert entry["status"] == doc["status"]
            assert entry["panel"]["ship_pct"] == doc["panel"]["ship_pct"]
            assert [v["position"] for v in entry["panel"]["verdicts"]] == [
                v["position"] for v in doc["panel"]["verdicts"]
            ]
            assert entry["score"] == {k: proof[k] for k in ("panel", "community")}
            seen.append(slug)
        if body["next"] is None:
            break
        params = {**params, "after": body["next"]}
    assert seen == sorted(t["slug"] for t in client.get("/v1/tools").json()["tools"])
    for bad in ({"size": size - 1, "after": params.get("after", "x")}, {"after": "bm90"}):
        refused = client.get("/v1/audit/scores", params=bad)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"


def test_score_cursors_are_checked_strictly_but_not_signed(client: TestClient) -> None:
    """A cursor whose leaf or slug is malformed ("--5", "²", "٣" pass str.isdigit or int) is a
    422 problem naming `after`, not a 500; a well-formed cursor no page gave out is answered:
    it merely starts the page after the tool it names (cursors grant nothing)."""
    size = signed_size(client, 41)
    slugs = [
        e["tool"] for e in client.get("/v1/audit/scores", params={"size": size}).json()["tools"]
    ]
    assert len(slugs) >= 3
    for tie in (
        f"{slugs[0]} --5",
        f"{slugs[0]} ²",
        f"{slugs[0]} ٣",
        f"{slugs[0]} ",
        "Bad -1",
        " -1",
    ):
        cursor = encode_cursor(SCORES_SCOPE, (size, tie))
        refused = client.get("/v1/audit/scores", params={"size": size, "after": cursor})
        assert refused.status_code == 422, (tie, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["field"] == "after", refused.json()
    forged = encode_cursor(SCORES_SCOPE, (size, f"{slugs[0]} -1"))
    answer = client.get("/v1/audit/scores", params={"size": size, "after": forged})
    assert answer.status_code == 200, answer.text
    assert [e["tool"] for e in answer.json()["tools"]] == slugs[1:]
    inside = encode_cursor(SCORES_SCOPE, (size, f"{slugs[1]} 0"))
    answer = client.get("/v1/audit/scores", params={"size": size, "after": inside})
    assert answer.status_code == 200 and answer.json()["tools"][0]["tool"] == slugs[1]


def test_export_splices_stored_states_as_the_decoded_records_show_them(
    client: TestClient, settings: Settings
) -> None:
    """The export (stored state spliced in) says what /v1/audit/leaves says (decoded and
    encoded again), on one line per leaf, for states that parse, one spread over lines, and
    ones that do not parse or lack their timestamp (shown raw)."""
    vote(client, "smollm3", "skip")
    size = signed_size(client, 42)
    table = EventTable(settings)
    edits = {
        3: b"{not json",
        5: b'{"tool": "smollm3"}',
        7: orjson.dumps(orjson.loads(table.state(8)), option=orjson.OPT_INDENT_2),
        9: b"[1, 2]",
    }
    positions = [leaf["event"]["position"] for leaf in _leaves(client, range(size), size)]
    for index, state in edits.items():
        table.set_state(positions[index], state)
    lines = client.get("/v1/audit/events", params={"after": 0, "limit": size}).content
    exported = [orjson.loads(line) for line in lines.split(b"\n")[:-1]]
    assert len(exported) == size
    decoded = _leaves(client, range(size), size)
    assert exported == [
        {k: v for k, v in r.items() if k not in ("position", "proof")} for r in decoded
    ]
    assert [i for i, line in enumerate(exported) if "state_unreadable" in line["event"]] == [
        3,
        5,
        9,
    ]
    assert exported[7]["event"]["state"] == orjson.loads(edits[7])


def _leaves(client: TestClient, indexes: range, size: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for start in range(0, len(indexes), MAX_LEAVES):
        params = {"index": list(indexes[start : start + MAX_LEAVES]), "size": size}
        found += client.get("/v1/audit/leaves", params=params).json()["leaves"]
    return found
