"""Ballot.Cast version 2 (it records the surface a first vote came from) beside the version 1
bytes stored before it: those bytes, their leaf hashes and the signed root stay as they were, a
v1 ballot takes new votes, and a log of v1 then v2 events folds to the figures of one written
all in v2 (docs/evolution.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from domain.application import Ledger
from domain.errors import InvalidInput
from domain.rules import Surface
from domain.settings import Settings
from projections.audit.log import AuditProjection, AuditStore
from projections.audit.signed_note import generate_signer
from projections.catalog.fold import LISTING_FIELDS, fold_catalog
from projections.following.follower import Follower
from projections.following.rebuild import read_events
from tests.builders import stored_ballot

FIXTURE = json.loads((Path(__file__).parents[1] / "data" / "ballot_cast_v1.json").read_text())
"""Eight events stored by the code before Ballot.Cast had a class_version: their bytes and the
leaf hashes and root the log gave them then."""


def store_v1_log(ledger: Ledger) -> None:
    """The fixture's rows, inserted as they were stored: the bytes are not re-encoded."""
    ledger.recorder.insert_events(
        [
            StoredEvent(
                UUID(e["originator_id"]), e["originator_version"], e["topic"], e["state"].encode()
            )
            for e in FIXTURE["events"]
        ]
    )


def audit_log(ledger: Ledger, settings: Settings) -> AuditStore:
    signer, _ = generate_signer(settings.log_origin)
    audit = AuditStore(ledger.recorder)
    audit.create_tables()
    Follower(ledger.recorder, AuditProjection(audit, signer, settings.log_origin)).catch_up()
    return audit


def test_v1_events_keep_their_leaf_hashes_and_root(ledger: Ledger, settings: Settings) -> None:
    """On each store: the v1 bytes read back unchanged, and the log gives them the leaf hashes
    and the root it gave them before version 2 existed, v2 events written after them or not."""
    store_v1_log(ledger)
    ledger.vote("alpha", "voter:dan", "ship", Surface.PAGE)
    audit = audit_log(ledger, settings)
    size = len(FIXTURE["events"])
    leaves = audit.leaves(0, size)
    assert [leaf.hash.hex() for leaf in leaves] == [e["leaf_hash"] for e in FIXTURE["events"]]
    assert audit.root(size).hex() == FIXTURE["root"]
    stored = ledger.recorder.select_notifications(1, size)
    assert [n.state.decode() for n in stored] == [e["state"] for e in FIXTURE["events"]]


def test_a_v1_ballot_is_upcast_and_takes_new_votes(ledger: Ledger) -> None:
    """A ballot whose Cast is v1 rebuilds with no surface (upcast_v1_v2) and takes a change of
    vote; a new first vote is stored as v2 with its surface, read back as it was written."""
    store_v1_log(ledger)
    old = stored_ballot(ledger, "alpha", "voter:ann")
    assert old is not None and old.surface is None and old.choice == "ship"
    assert ledger.vote("alpha", "voter:ann", "skip", Surface.API).outcome == "changed"
    assert ledger.vote("alpha", "voter:dan", "ship", Surface.PAGE).outcome == "cast"
    new = stored_ballot(ledger, "alpha", "voter:dan")
    assert new is not None and new.surface == "page"
    events = list(read_events(ledger.recorder))
    cast = next(e for e in events if e.kind == "Ballot.Cast" and e.data["actor"] == "voter:dan")
    assert cast.data["class_version"] == 2 and cast.data["surface"] == "page"
    changed = events[-2]
    assert changed.kind == "Ballot.Changed" and "surface" not in changed.data


def test_v1_then_v2_folds_to_the_figures_of_all_v2(ledger: Ledger) -> None:
    """The fixture's votes replayed through version 2 without a surface (what the upcast says
    a v1 event means), then the same v2 votes after each: the same figures on each store."""
    store_v1_log(ledger)
    more = [
        ("alpha", "voter:dan", "skip"),
        ("beta", "voter:ann", "ship"),
        ("alpha", "voter:cat", None),
    ]
    for slug, voter, choice in more:
        ledger.vote(slug, voter, choice, Surface.API)
    mixed = figures(fold_catalog(read_events(ledger.recorder)))
    all_v2 = Ledger(Settings(database_url="sqlite:///:memory:"))
    try:
        replay_fixture(all_v2)
        for slug, voter, choice in more:
            all_v2.vote(slug, voter, choice, Surface.API)
        assert figures(fold_catalog(read_events(all_v2.recorder))) == mixed
    finally:
        all_v2.close()
    alpha = {"ship": 2, "skip": 1, "total": 3, "ship_pct": 67, "voided": 0}
    assert mixed["alpha"]["community"] == alpha


def test_a_surface_that_is_not_one_is_refused(ledger: Ledger) -> None:
    """Only the named surfaces (or none) are stored; anything else changes nothing."""
    store_v1_log(ledger)
    with pytest.raises(InvalidInput, match="surface"):
        ledger.vote("alpha", "voter:dan", "ship", "email")  # type: ignore[arg-type]  # on purpose
    assert len(list(read_events(ledger.recorder))) == len(FIXTURE["events"])


def replay_fixture(ledger: Ledger) -> None:
    """The fixture's commands, written by version 2 with no surface."""
    for e in FIXTURE["events"]:
        data = orjson.loads(e["state"])
        kind = e["topic"].rpartition(":")[2]
        if kind == "Tool.Listed":
            listing = {k: data[k] for k in LISTING_FIELDS}
            ledger.list_tool(data["tool"], listing, data["actor"])
        elif kind in ("Ballot.Cast", "Ballot.Changed"):
            ledger.vote(data["tool"], data["actor"], data["choice"], None)
        elif kind == "Ballot.Retracted":
            ledger.vote(data["tool"], data["actor"], None, None)
        else:
            raise AssertionError(kind)


def figures(catalog: Any) -> dict[str, dict[str, Any]]:
    """Every tool's published figures (times and positions differ between two logs)."""
    return {
        slug: {k: tool.document()[k] for k in ("panel", "community", "status")}
        for slug, tool in catalog.tools.items()
    }
