"""Who the client is, for rate limits and logs: the connection's peer, unless that peer is a
configured proxy (VERDICT_TRUSTED_PROXIES, none by default) and the address it forwards is an IP
address. Anything else a client writes in X-Forwarded-For is ignored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from domain.settings import Settings
from tests.scripts.drill_harness import seeded
from tests.serving import serving

LIMIT = 2
"""Voter registrations per minute per client, and the burst: the third in a row is refused."""


def registrations(post: Callable[..., httpx.Response], forwarded: list[str]) -> list[int]:
    """The statuses of one registration per forwarded value (sent in X-Forwarded-For)."""
    return [post("/v1/voters", headers={"X-Forwarded-For": v}).status_code for v in forwarded]


def test_served_by_default_no_forwarded_address_is_believed(tmp_path: Path) -> None:
    """`verdict serve` on loopback, no proxy configured: three registrations claiming three
    addresses are one client's, and the third is rate limited."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    limits = {"VERDICT_VOTER_REGISTRATIONS_PER_MINUTE": str(LIMIT)}
    with serving(settings, tmp_path / "serve.log", **limits) as served, served.http() as http:
        statuses = registrations(http.post, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
    assert statuses == [201, 201, 429]


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[TestClient]:
    """The app with 127.0.0.1 configured as its proxy, called from 127.0.0.1."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/ledger.db",
        trusted_proxies=["127.0.0.1", "10.0.0.0/8"],
        voter_registrations_per_minute=LIMIT,
    )
    seeded(settings)
    with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as client:
        yield client


def test_a_configured_proxy_forwards_ip_addresses(behind_proxy: TestClient) -> None:
    """Each forwarded address is its own client; proxies of the chain are skipped."""
    forwarded = ["203.0.113.1", "2001:db8::1", "203.0.113.2, 10.1.2.3", "203.0.113.1"]
    assert registrations(behind_proxy.post, forwarded) == [201, 201, 201, 201]


@pytest.mark.parametrize(
    "junk", ["evil", "a" * 1000, "203.0.113.1:80", "[2001:db8::1]", "unknown", "", "1.2.3.4.5"]
)
def test_a_forwarded_value_that_is_no_ip_address_is_ignored(
    behind_proxy: TestClient, junk: str
) -> None:
    """Strings that are not an address do not become rate-limit keys: they are the proxy's."""
    assert registrations(behind_proxy.post, [junk, junk + "x", "x" + junk]) == [201, 201, 429]


def test_an_untrusted_peer_is_itself_whatever_it_forwards(tmp_path: Path) -> None:
    """From an address that is not a configured proxy, X-Forwarded-For changes nothing."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/ledger.db",
        trusted_proxies=["10.0.0.1"],
        voter_registrations_per_minute=LIMIT,
    )
    seeded(settings)
    with TestClient(create_app(settings), client=("192.0.2.7", 40000)) as client:
        statuses = registrations(client.post, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
    assert statuses == [201, 201, 429]


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    """A typo in the setting is refused at start, not silently trusted or ignored."""
    with pytest.raises(ValueError, match="VERDICT_TRUSTED_PROXIES"):
        Settings(trusted_proxies=["localhost"])
