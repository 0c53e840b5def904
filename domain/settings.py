"""The one settings class. `VERDICT_DATABASE_URL` chooses the store; the rest has safe defaults."""

from __future__ import annotations

import ipaddress
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain import rules
from domain.rules import DEFAULT_SEATS

Positive = Annotated[float, Field(gt=0)]

DEFAULT_SQLITE_FOLDER = Path("var")
"""The default ledger's folder, made when missing; any other folder must exist (a new ledger in
a mistyped folder would look like a lost one)."""

TRANSCODER_TOPIC = "domain.persistence.transcoder:OrjsonTranscoder"
RECORDER_TOPICS = {
    "sqlite": "domain.persistence.recorders:ConditionalSQLiteRecorder",
    "postgres": "domain.persistence.recorders:ConditionalPostgresRecorder",
}
"""eventsourcing's recorders, with saves conditional on what was read (persistence/recorders.py)."""


class Projections(StrEnum):
    """Where the projections are followed (kept up to date from the log): `VERDICT_PROJECTIONS`.
    Unset, `Settings.where_projections_run` picks the default for the shape of the deployment."""

    CHILDREN = "children"
    """A supervised `verdict project NAME` child process per projection beside the one API
    process (api/server/supervisor.py): the default of `verdict serve` with one worker."""
    THREADS = "threads"
    """Follower threads inside each API process: the default of an app made any other way
    (tests, an embedding) and of `verdict serve --workers N` on SQLite."""
    EXTERNAL = "external"
    """Neither: `verdict project NAME` processes started separately keep the views, and each API
    process polls their catalog snapshot: the default of `verdict serve --workers N` (N > 1)
    on PostgreSQL, and what every API host of a scaled-out deployment sets (docs/deploy.md)."""


class Witness(BaseModel, frozen=True):
    """A C2SP tlog-witness the log asks to cosign its checkpoints."""

    url: str
    """The submission prefix: the ledger POSTs `<url>/add-checkpoint`."""
    verifier_key: str
    """The witness's cosignature key, `name+keyid+base64(0x04 || key)`."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERDICT_", frozen=True)

    database_url: str = f"sqlite:///{DEFAULT_SQLITE_FOLDER}/ledger.db"
    """`sqlite:///relative/path.db`, `sqlite:////absolute/path.db` or `postgresql://user@host:port/db`."""

    create_tables: bool = True
    """Workers started after `verdict migrate` set this to false, so they never race on DDL."""

    pool_size: int = 5
    """Connections per process (PostgreSQL); keep pool_size x processes < max_connections."""

    voter_registrations_per_minute: int = 30
    """Per client address, per worker; bursts up to the same number."""

    registration_retention_days: int = Field(default=30, ge=1)
    """How long a voter's registration record (keyed hash of its client address, minute) is
    kept for the moderation queue, then purged (docs/security.md)."""

    votes_per_minute: int = 120
    """Per voter, per worker; bursts up to a fifth of it."""

    max_body_bytes: int = 16_384

    group_commit: bool = True
    """Votes arriving together are written in one transaction (one writer thread per process)."""

    group_commit_max: int = 500
    """The most votes one transaction takes."""

    panel_seats: list[str] = list(DEFAULT_SEATS)
    """The panel's seats (JSON, e.g. `["builder","skeptic"]`): a verdict is published only into
    one of them. Verdicts already stored in other seats still count and can be retracted."""

    log_origin: str = "verdict-ledger.localhost/ledger"
    """Names this log in its signed checkpoints (C2SP origin line and key name): make it unique,
    e.g. the host name the ledger is published at."""

    public_url: str = "http://127.0.0.1:8000"
    """Where readers reach this service (scheme, host, optional path; e.g.
    `https://verdicts.example`): the Atom feed's ids and links are made from it, never from a
    request's Host header. Entry ids are derived from it for ever: set it before the feed is
    first read, and keep it. The default is where `verdict serve` listens."""

    promises: bool = True
    """Every write's receipt carries a signed promise (docs/audit.md)."""

    promise_seconds: int = 10
    """The promise window: a promised leaf is in a checkpoint within this many seconds."""

    witnesses: list[Witness] = []
    """JSON list of `{"url": ..., "verifier_key": ...}`: the witnesses asked to cosign."""

    witness_quorum: int | None = None
    """Cosignatures a checkpoint needs before it is served as the latest (default: all)."""

    # -- operations (docs/deploy.md) ----------------------------------------------------------

    projections: Projections | None = None
    """Where the projections are followed; unset, the default for the shape (`Projections`)."""

    pool_max_overflow: int = 10
    """Extra PostgreSQL connections a process may open above `pool_size` under load."""

    pool_pre_ping: bool = True
    """Check a pooled connection before use, so a database restart costs no failed request."""

    ready_max_lag: int = 10_000
    """`/readyz` answers 503 when a projection is more than this many log positions behind."""

    log_level: str = "INFO"
    access_log: bool = True
    """One JSON line per request (method, route, status, duration; never headers or bodies)."""

    trusted_proxies: list[str] = []
    """Addresses or networks (JSON, e.g. `["10.0.0.5", "10.1.0.0/16"]`) of the reverse proxies in
    front: only from them is `X-Forwarded-For` believed, and only its IP addresses. Empty, the
    default, means the client is always the connection's peer."""

    head_timeout_seconds: Positive = 10.0
    """How long a connection may take to send a request's head (line and headers), counted from
    when it opened or its previous request was answered: a silent or slow client is answered 408
    and cut off (`verdict serve`)."""

    body_timeout_seconds: Positive = 30.0
    """How long a request's body may take to arrive after its head; then the connection is cut."""

    idle_timeout_seconds: Positive = 5.0
    """How long a kept-alive connection may wait, idle, for its next request (uvicorn's
    keep-alive timeout)."""

    cors_origins: list[str] = []
    """Origins allowed to read (GET) cross-origin; empty, the default, means CORS is closed."""

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError("VERDICT_DATABASE_URL must start with sqlite:/// or postgresql://")
        return value

    @model_validator(mode="after")
    def _no_retired_follow(self) -> Settings:
        """A deployment still setting VERDICT_FOLLOW would silently get the default instead."""
        if "VERDICT_FOLLOW" in os.environ:
            raise ValueError(
                "VERDICT_FOLLOW is replaced by VERDICT_PROJECTIONS (true: threads, false: external)"
            )
        return self

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if (
            parts.scheme not in {"http", "https"}
            or not parts.netloc
            or parts.query
            or (parts.fragment)
        ):
            raise ValueError(
                "VERDICT_PUBLIC_URL must be an http:// or https:// URL with a host and no query"
            )
        return value.strip().rstrip("/")

    @field_validator("panel_seats")
    @classmethod
    def _seats_are_slugs(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError("VERDICT_PANEL_SEATS must name at least one seat, each once")
        bad = [seat for seat in value if not re.fullmatch(rules.SLUG_PATTERN, seat)]
        if bad:
            raise ValueError(f"VERDICT_PANEL_SEATS: {bad[0]!r} must match {rules.SLUG_PATTERN}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"VERDICT_TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
                ) from None
        return value

    @model_validator(mode="after")
    def _reachable_quorum(self) -> Settings:
        quorum = self.witness_quorum
        if quorum is not None and not 0 <= quorum <= len(self.witnesses):
            raise ValueError("VERDICT_WITNESS_QUORUM must be between 0 and the witnesses given")
        if self.promise_seconds < 1:
            raise ValueError("VERDICT_PROMISE_SECONDS must be at least 1")
        return self

    @property
    def quorum(self) -> int:
        """Cosignatures a checkpoint needs to be served (0: no witnesses, any signed one)."""
        return len(self.witnesses) if self.witness_quorum is None else self.witness_quorum

    @property
    def is_postgres(self) -> bool:
        return urlsplit(self.database_url).scheme in {"postgresql", "postgres"}

    def where_projections_run(self, serve_workers: int | None = None) -> Projections:
        """The one place that decides where the projections run: the setting if given, else the
        default for `verdict serve --workers serve_workers` (None: an app not made by `verdict
        serve`, which follows in its own threads). N workers following the same projections
        would only race (safely) for the same rows, so on PostgreSQL they leave them to one
        `verdict project` each; on SQLite, one process is the shape, and N follow in threads."""
        if self.projections is not None:
            return self.projections
        if serve_workers == 1:
            return Projections.CHILDREN
        if serve_workers is not None and self.is_postgres:
            return Projections.EXTERNAL
        return Projections.THREADS

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
            if path.parent == DEFAULT_SQLITE_FOLDER:  # any other missing folder may be a typo
                path.parent.mkdir(parents=True, exist_ok=True)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                APPLICATION_RECORDER_TOPIC=RECORDER_TOPICS["sqlite"],
                SQLITE_DBNAME=str(path),
            )
            return env
        url = urlsplit(self.database_url)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            APPLICATION_RECORDER_TOPIC=RECORDER_TOPICS["postgres"],
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
