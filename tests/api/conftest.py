"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app, following its projections, over a store seeded with the demo data."""
    runtime = open_runtime(settings)
    seed_demo(runtime.ledger)
    runtime.close()
    with TestClient(create_app(settings)) as client:
        yield client
