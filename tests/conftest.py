"""Fixtures shared by the suite. Backends: every test that takes `settings` runs once on SQLite
(a file in a temporary folder) and once on PostgreSQL (a database created for the test and
dropped after it). PostgreSQL tests FAIL when the server cannot be reached; only an explicit
VERDICT_SKIP_POSTGRES=1 leaves them out."""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings

from domain.application import Ledger
from domain.settings import Settings

hypothesis_settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
hypothesis_settings.register_profile(
    "mutation",
    hypothesis_settings.get_profile("default"),
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    max_examples=50,
)
"""scripts/mutation's (`--hypothesis-profile=mutation`): every mutant meets the same examples,
none replayed from another mutant's failures, so a score is reproducible; no shrinking (a
mutant is killed by the first failing example, its smallest form is of no use) and fewer
examples where a test does not set its own, so some 1,700 mutants fit in the run's budget."""
hypothesis_settings.load_profile("default")

POSTGRES_ADMIN_URL = os.environ.get(
    "VERDICT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SKIP_POSTGRES = os.environ.get("VERDICT_SKIP_POSTGRES") == "1"


@pytest.fixture(autouse=True)
def postgres_tests_share_the_server(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under pytest-xdist (scripts/test), a PostgreSQL test holds a lock shared by the run's
    workers from before its database is made until after it is dropped: shared by ordinary
    tests, which run side by side (each on its own database), and exclusive for those marked
    `postgres_alone`, which run with no other PostgreSQL test: clusters of several workers with
    pools each, two at once, can exhaust a default server's 100 connections, and the crash
    drill restarts the server. (xdist's own `loadgroup` did not group marked tests with this
    pytest.) Another run has another lock file."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None or "postgres" not in request.node.keywords:
        yield
        return
    alone = "postgres_alone" in request.node.keywords
    path = Path(tempfile.gettempdir()) / f"verdict-tests-postgres-{run}.lock"
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SKIP_POSTGRES:
        items[:] = [i for i in items if "postgres" not in i.keywords]


def _admin_url(dbname: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new PostgreSQL database (its URL), dropped afterwards, whatever happened."""
    name = f"verdict_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        for attempt in range(5):
            try:
                admin.execute(f'CREATE DATABASE "{name}"')
                break
            except psycopg.errors.ObjectInUse:  # another session is connected to template1
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))
    try:
        yield _admin_url(name)
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    return Settings(database_url=request.getfixturevalue("postgres_url"))


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    app = Ledger(settings)
    yield app
    app.close()
