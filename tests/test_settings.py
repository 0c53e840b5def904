"""VERDICT_DATABASE_URL chooses the store; anything else is refused up front."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.settings import Projections, Settings


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


@pytest.mark.parametrize(
    "url", ["verdicts.example", "ftp://verdicts.example", "https://", "https://v.example/?a=1"]
)
def test_a_public_url_that_is_no_http_address_is_refused(url: str) -> None:
    """The feed's ids are made from VERDICT_PUBLIC_URL: refuse at start what cannot be one."""
    with pytest.raises(ValidationError, match="VERDICT_PUBLIC_URL"):
        Settings(public_url=url)


def test_the_public_url_loses_its_trailing_slash() -> None:
    """`https://v.example/` and `https://v.example` name one feed, so one set of entry ids."""
    assert Settings(public_url=" https://v.example/ledger/ ").public_url == (
        "https://v.example/ledger"
    )
    assert Settings().public_url == "http://127.0.0.1:8000"


SQLITE = "sqlite:///var/ledger.db"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.mark.parametrize(
    ("url", "serve_workers", "expected"),
    [
        (SQLITE, None, Projections.THREADS),
        (POSTGRES, None, Projections.THREADS),
        (SQLITE, 1, Projections.CHILDREN),
        (POSTGRES, 1, Projections.CHILDREN),
        (SQLITE, 4, Projections.THREADS),
        (POSTGRES, 4, Projections.EXTERNAL),
    ],
)
def test_projections_default_per_shape(
    url: str, serve_workers: int | None, expected: Projections
) -> None:
    """Unset: an app not made by `verdict serve` follows in threads, one worker supervises
    children, N workers on PostgreSQL leave the projections to `verdict project`."""
    assert Settings(database_url=url).where_projections_run(serve_workers) is expected


@pytest.mark.parametrize("where", list(Projections))
@pytest.mark.parametrize("serve_workers", [None, 1, 4])
def test_projections_setting_wins_over_the_shape(
    where: Projections, serve_workers: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VERDICT_PROJECTIONS, when set, is where they run whatever the shape."""
    monkeypatch.setenv("VERDICT_PROJECTIONS", where.value)
    settings = Settings(database_url=POSTGRES)
    assert settings.where_projections_run(serve_workers) is where


def test_unknown_projections_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo is refused at start rather than read as the default."""
    monkeypatch.setenv("VERDICT_PROJECTIONS", "thread")
    with pytest.raises(ValidationError, match="projections"):
        Settings()


def test_retired_follow_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """VERDICT_FOLLOW, replaced by VERDICT_PROJECTIONS, is refused with the new name."""
    monkeypatch.setenv("VERDICT_FOLLOW", "false")
    with pytest.raises(ValidationError, match="VERDICT_PROJECTIONS"):
        Settings()


def test_witnesses_come_as_json_and_the_quorum_defaults_to_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """VERDICT_WITNESSES is a JSON list of {url, verifier_key}; no VERDICT_WITNESS_QUORUM means
    every witness must cosign; none configured means quorum 0."""
    assert Settings().quorum == 0
    monkeypatch.setenv(
        "VERDICT_WITNESSES",
        '[{"url": "http://127.0.0.1:1/w", "verifier_key": "a+00000000+AA=="},'
        ' {"url": "http://127.0.0.1:2/w", "verifier_key": "b+00000000+AA=="}]',
    )
    settings = Settings()
    assert [w.url for w in settings.witnesses] == ["http://127.0.0.1:1/w", "http://127.0.0.1:2/w"]
    assert settings.quorum == 2
    monkeypatch.setenv("VERDICT_WITNESS_QUORUM", "1")
    assert Settings().quorum == 1


def test_a_quorum_larger_than_the_witnesses_is_refused() -> None:
    """A quorum no set of configured witnesses can reach would hide every checkpoint."""
    with pytest.raises(ValidationError, match="VERDICT_WITNESS_QUORUM"):
        Settings(witness_quorum=1)
