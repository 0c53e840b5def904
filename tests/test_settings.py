"""VERDICT_DATABASE_URL chooses the store; anything else is refused up front."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.settings import Settings


def test_default_is_a_sqlite_file_under_the_working_directory() -> None:
    """No configuration: sqlite:///var/ledger.db, a relative path."""
    settings = Settings()
    assert not settings.is_postgres
    assert str(settings.sqlite_path) == "var/ledger.db"


def test_postgres_url_becomes_eventsourcing_environment() -> None:
    """User, password (url-decoded), host, port and database reach eventsourcing."""
    env = Settings(database_url="postgresql://ann:p%40ss@db.local:6543/ledger").eventsourcing_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("ann", "p@ss")
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.local",
        "6543",
        "ledger",
    )
    assert env["TRANSCODER_TOPIC"] == "domain.persistence.transcoder:OrjsonTranscoder"


def test_unknown_scheme_is_refused() -> None:
    """mysql:// is not a store we support: refuse at start, not at first write."""
    with pytest.raises(ValidationError, match="VERDICT_DATABASE_URL"):
        Settings(database_url="mysql://root@localhost/db")
