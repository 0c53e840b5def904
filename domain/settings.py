"""The one settings class. `VERDICT_DATABASE_URL` chooses the store; the rest has safe defaults."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TRANSCODER_TOPIC = "domain.persistence.transcoder:OrjsonTranscoder"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERDICT_", frozen=True)

    database_url: str = "sqlite:///var/ledger.db"
    """`sqlite:///relative/path.db`, `sqlite:////absolute/path.db` or `postgresql://user@host:port/db`."""

    create_tables: bool = True
    """Workers started after `verdict migrate` set this to false, so they never race on DDL."""

    pool_size: int = 5
    """Connections per process (PostgreSQL); keep pool_size x processes < max_connections."""

    voter_registrations_per_minute: int = 30
    """Per client address, per worker; bursts up to the same number."""

    votes_per_minute: int = 120
    """Per voter, per worker; bursts up to a fifth of it."""

    max_body_bytes: int = 16_384

    group_commit: bool = True
    """Votes arriving together are written in one transaction (one writer thread per process)."""

    group_commit_max: int = 500
    """The most votes one transaction takes."""

    log_origin: str = "verdict-ledger.localhost/ledger"
    """Names this log in its signed checkpoints (C2SP origin line and key name): make it unique,
    e.g. the host name the ledger is published at."""

    # -- operations (docs/deploy.md) ----------------------------------------------------------

    follow: bool | None = None
    """Keep the projections up to date inside each API process (threads). Unset: `verdict
    serve` with one worker runs a `verdict project NAME` process per projection beside it
    (api/server/supervisor.py), with N > 1 workers on PostgreSQL it leaves them to such
    processes started separately, and an app made any other way follows in its own threads."""

    pool_max_overflow: int = 10
    """Extra PostgreSQL connections a process may open above `pool_size` under load."""

    pool_pre_ping: bool = True
    """Check a pooled connection before use, so a database restart costs no failed request."""

    ready_max_lag: int = 10_000
    """`/readyz` answers 503 when a projection is more than this many log positions behind."""

    log_level: str = "INFO"
    access_log: bool = True
    """One JSON line per request (method, route, status, duration; never headers or bodies)."""

    cors_origins: list[str] = []
    """Origins allowed to read (GET) cross-origin; empty, the default, means CORS is closed."""

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError("VERDICT_DATABASE_URL must start with sqlite:/// or postgresql://")
        return value

    @property
    def is_postgres(self) -> bool:
        return urlsplit(self.database_url).scheme in {"postgresql", "postgres"}

    @property
    def sqlite_path(self) -> Path:
        """The file named by a sqlite URL: three slashes are relative, four are absolute."""
        return Path(self.database_url.removeprefix("sqlite:///"))

    def eventsourcing_env(self) -> dict[str, str]:
        """Translate the URL into the environment `eventsourcing` reads."""
        env = {
            "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
            "CREATE_TABLE": "y" if self.create_tables else "n",
        }
        if not self.is_postgres:
            path = self.sqlite_path
            path.parent.mkdir(parents=True, exist_ok=True)
            env.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=str(path))
            return env
        url = urlsplit(self.database_url)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=url.path.lstrip("/") or "postgres",
            POSTGRES_HOST=url.hostname or "127.0.0.1",
            POSTGRES_PORT=str(url.port or 5432),
            POSTGRES_USER=unquote(url.username or "postgres"),
            POSTGRES_PASSWORD=unquote(url.password or ""),
            POSTGRES_POOL_SIZE=str(self.pool_size),
            POSTGRES_MAX_OVERFLOW=str(self.pool_max_overflow),
            POSTGRES_PRE_PING="y" if self.pool_pre_ping else "n",
            POSTGRES_CONNECT_TIMEOUT="5",
        )
        return env
