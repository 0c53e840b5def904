"""Registration records, outside the event log, on SQLite and PostgreSQL: what registering a
voter keeps (a keyed hash of the address, never the address), the bursts the moderation queue
pages through, and the bounded purge of records past the retention time."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.voting.registrations import PURGE_BATCH, Registrations
from domain.settings import Settings
from tests.api.site.test_pages import seeded_site

MINUTE = 29_000_000  # a minute since the epoch (2025)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def registry(client: TestClient) -> Registrations:
    found: Registrations = client.app.state.voting.registry  # type: ignore[attr-defined]
    return found


def at_minute(reg: Registrations, minute: int) -> None:
    reg.now = lambda: minute * 60.0 + 17.5


def test_registering_keeps_the_voter_a_keyed_hash_of_its_address_and_the_minute(
    client: TestClient,
) -> None:
    """POST /v1/voters records (voter id, HMAC of the address, minute); the address itself is
    nowhere in the table, and the hash is not its plain SHA-256 (a keyed hash: the IPv4 space
    can't be tried against the table without the ledger's secret)."""
    reg = registry(client)
    at_minute(reg, MINUTE)
    voter = client.post("/v1/voters").json()["voter_id"]
    rows = reg.db.fetch("SELECT * FROM voter_registrations")
    assert [(r["voter_id"], r["minute"]) for r in rows] == [(voter, MINUTE)]
    stored = repr([dict(r) for r in rows])
    assert "testclient" not in stored
    assert hashlib.sha256(b"testclient").hexdigest() not in stored
    assert rows[0]["client_hash"] == reg.client_hash("testclient")
    assert reg.client_hash("testclient") != reg.client_hash("testclient2")


def test_a_first_vote_from_the_form_registers_too(settings: Settings) -> None:
    """The page form registers a new visitor on its first vote: that registration is recorded
    like the API's."""
    for site in seeded_site(settings):
        reg = registry(site.client)
        assert site.vote("smollm3", "ship").status_code == 303
        assert len(reg.db.fetch("SELECT voter_id FROM voter_registrations")) == 1


def test_bursts_count_the_voters_of_one_address_in_one_minute_largest_first(
    client: TestClient,
) -> None:
    """A burst is (address hash, minute): its voters are the registrations that share both."""
    reg = registry(client)
    at_minute(reg, MINUTE)
    many = [reg.record(f"v_many{i}", "192.0.2.1") for i in range(5)]
    few = [reg.record(f"v_few{i}", "192.0.2.2") for i in range(2)]
    at_minute(reg, MINUTE + 1)
    later = reg.record("v_later", "192.0.2.1")
    bursts = reg.bursts(at_least=1, after=None, limit=10)
    assert [(b.voters, b.minute) for b in bursts] == [(5, MINUTE), (2, MINUTE), (1, MINUTE + 1)]
    assert reg.voters(bursts) == {
        bursts[0]: sorted(many),
        bursts[1]: sorted(few),
        bursts[2]: [later],
    }
    assert [b.voters for b in reg.bursts(at_least=2, after=None, limit=10)] == [5, 2]
    assert reg.bursts(at_least=1, after=bursts[0].cursor, limit=1) == [bursts[1]]


def test_expired_registrations_are_purged_a_bounded_batch_per_registration(
    settings: Settings,
) -> None:
    """Records older than the retention time go, at most PURGE_BATCH per registration (so a
    registration's work is bounded), and their bursts with them; recent ones stay."""
    days = 30
    with TestClient(
        create_app(settings.model_copy(update={"registration_retention_days": days}))
    ) as client:
        reg = registry(client)
        old = MINUTE - days * 24 * 60 - 1
        at_minute(reg, old)
        for i in range(PURGE_BATCH + 5):
            reg.record(f"v_old{i}", f"198.51.100.{i % 200}")
        at_minute(reg, MINUTE)
        reg.record("v_new0", "192.0.2.1")
        left = reg.db.fetch("SELECT voter_id FROM voter_registrations WHERE minute = ?", (old,))
        assert len(left) == 5, "one registration purges one bounded batch"
        reg.record("v_new1", "192.0.2.1")
        kept = reg.db.fetch("SELECT voter_id FROM voter_registrations ORDER BY voter_id")
        assert [r["voter_id"] for r in kept] == ["v_new0", "v_new1"]
        assert [(b.voters, b.minute) for b in reg.bursts(1, None, 10)] == [(2, MINUTE)]
        at_minute(reg, MINUTE + days * 24 * 60 + 1)
        assert reg.purge() == 2
        assert reg.db.fetch("SELECT voter_id FROM voter_registrations") == []
        assert reg.bursts(1, None, 10) == []
