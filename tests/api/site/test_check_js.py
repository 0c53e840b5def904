"""static/check.js held equal to the Python side, in Chromium, by Hypothesis: its canonical
event bytes are the service's (docs/audit.md), its leaf hashes RFC 9162's, and its inclusion
check accepts every proof the log makes and refuses one with a flipped byte. The script is
served from a routed 127.0.0.1 origin (a secure context, so WebCrypto is there) with no server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from playwright.sync_api import Page, Route, sync_playwright

from projections.audit import merkle
from projections.records import canonical_json
from tests.api.site.test_browser import CHROMIUM, FLAGS
from tests.strategies import json_values

SCRIPT = Path(__file__).resolve().parents[3] / "api" / "site" / "static" / "check.js"
ORIGIN = "http://127.0.0.1:9"
SAFE = 2**53 - 1
"""JavaScript's numbers hold integers exactly up to here; beyond, check.js says it cannot check."""

LEAVES = [merkle.leaf_hash(f"leaf {i}".encode()) for i in range(300)]
STORE = merkle.MemoryNodes.of(LEAVES)


def _serve(route: Route) -> None:
    if route.request.url.endswith("/check.js"):
        route.fulfill(body=SCRIPT.read_text(), content_type="text/javascript")
    else:
        route.fulfill(
            body='<!doctype html><script src="/check.js"></script>', content_type="text/html"
        )


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/test, which installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.route(f"{ORIGIN}/**", _serve)
            page.goto(f"{ORIGIN}/")
            page.wait_for_function("window.verdictCheck !== undefined")
            yield page
        finally:
            browser.close()


def _safe(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -SAFE <= value <= SAFE
    if isinstance(value, list):
        return all(map(_safe, value))
    return all(map(_safe, value.values()))


EVENT = "verdictCheck.canonical(JSON.parse(text))"
LEAF = (
    "async (text) => { const check = verdictCheck;"
    " const bytes = new TextEncoder().encode(check.canonical(JSON.parse(text)));"
    " return btoa(String.fromCharCode(...await check.leafHash(bytes))); }"
)
INCLUDED = (
    "async ([leaf, index, size, proof, root]) => {"
    " const b = (t) => Uint8Array.from(atob(t), c => c.charCodeAt(0));"
    " return verdictCheck.included(b(leaf), index, size, proof.map(b), b(root)); }"
)

PROPERTY = settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.slow
@PROPERTY
@given(json_values.filter(_safe), st.integers(1, SAFE))
@example({"\uffff": 1, "\U0001f600": 2, "\x7f\u2028\x00": "\ud7ff\t"}, 1)  # UTF-16 order differs
def test_canonical_bytes_and_leaf_hash_equal_the_services(
    page: Page, state: Any, position: int
) -> None:
    """An event as the export carries it (JSON text) canonicalises in the browser to the bytes
    the service hashes, and hashes to the same leaf."""
    event = {
        "originator_id": "0b9c2a5e-7a8e-5d0c-9a51-0f1c2d3e4f50",
        "originator_version": 1,
        "position": position,
        "state": state,
        "topic": "domain.ballot:Ballot.Cast",
    }
    text = json.dumps(event, ensure_ascii=True)  # the wire's escapes need not be the canonical ones
    assert page.evaluate(f"(text) => {EVENT}", text).encode() == canonical_json(event)
    assert page.evaluate(LEAF, text) == b64(merkle.leaf_hash(canonical_json(event)))


@pytest.mark.slow
@PROPERTY
@given(
    st.integers(1, len(LEAVES)).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n))),
    st.data(),
)
def test_inclusion_accepts_the_logs_proofs_and_refuses_a_flipped_byte(
    page: Page, target: tuple[int, int], data: st.DataObject
) -> None:
    """Every proof merkle.inclusion_proof makes verifies in the browser against the root; a
    flipped byte in the leaf, the proof or the root, or another index, does not."""
    index, size = target
    proof = merkle.inclusion_proof(index, size, STORE)
    root = merkle.root(size, STORE)
    args = [b64(LEAVES[index]), index, size, [b64(p) for p in proof], b64(root)]
    assert page.evaluate(INCLUDED, args) is True
    flip = data.draw(st.integers(0, len(proof) + 1))
    bad = list(args)
    if flip == 0:
        bad[0] = b64(bytes([LEAVES[index][0] ^ 1]) + LEAVES[index][1:])
    elif flip <= len(proof):
        bad[3] = [*args[3]]
        bad[3][flip - 1] = b64(bytes([proof[flip - 1][0] ^ 1]) + proof[flip - 1][1:])
    else:
        bad[4] = b64(bytes([root[0] ^ 1]) + root[1:])
    assert page.evaluate(INCLUDED, bad) is False
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        assert page.evaluate(INCLUDED, [args[0], other, size, args[3], args[4]]) is (
            LEAVES[other] == LEAVES[index]
        )


@pytest.mark.slow
def test_integers_javascript_cannot_hold_are_not_checked(page: Page) -> None:
    """An event with an integer beyond 2**53 is refused as uncheckable, never mis-hashed."""
    refused = page.evaluate(
        "(text) => { try { verdictCheck.canonical(JSON.parse(text)); return ''; }"
        " catch (e) { return e.message; } }",
        json.dumps({"n": 2**60}),
    )
    assert "beyond the integers JavaScript holds exactly" in refused
