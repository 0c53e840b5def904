"""The composition root: settings in, a running ledger with its views and follower out."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.credentials import Credentials
from domain.application import Ledger
from domain.settings import Settings
from projections.audit_log import AuditProjection, AuditStore
from projections.follower import Follower, FollowerThread, Projection
from projections.signed_note import NoteSigner, generate_signer, signer_from_private_bytes
from projections.views import CatalogProjection, ViewStore
from projections.wakeup import PostgresWakeup


@dataclass
class Runtime:
    settings: Settings
    ledger: Ledger
    views: ViewStore
    credentials: Credentials
    audit: AuditStore
    signer: NoteSigner
    _threads: list[FollowerThread | PostgresWakeup] = field(default_factory=list)

    def projections(self) -> list[Projection]:
        """Every projection this ledger keeps, each with its own tracking row."""
        return [CatalogProjection(self.views), self.audit_projection()]

    def audit_projection(self) -> AuditProjection:
        return AuditProjection(self.audit, self.signer, self.settings.log_origin)

    def follow(self) -> list[FollowerThread]:
        """Keep every projection up to date in this process: woken by local saves and, on
        PostgreSQL, by NOTIFY from other processes; polling covers anything a wake-up misses."""
        followers = [FollowerThread(Follower(self.ledger.recorder, p)) for p in self.projections()]
        for follower in followers:
            self.ledger.add_listener(follower.wake)
        self._threads.extend(followers)
        if self.settings.is_postgres:
            channel = self.ledger.recorder.channel_name  # type: ignore[attr-defined]

            def wake_all() -> None:
                for follower in followers:
                    follower.wake()

            self._threads.append(PostgresWakeup(self.settings.database_url, channel, wake_all))
        for t in self._threads:
            t.start()
        return followers

    def close(self) -> None:
        for t in reversed(self._threads):
            t.stop()
        self._threads.clear()
        self.ledger.close()


def open_runtime(settings: Settings) -> Runtime:
    ledger = Ledger(settings)
    views = ViewStore(ledger.recorder)
    credentials = Credentials(ledger.recorder)
    audit = AuditStore(ledger.recorder)
    if settings.create_tables:
        views.create_tables()
        credentials.create_tables()
        audit.create_tables()
    return Runtime(
        settings, ledger, views, credentials, audit, checkpoint_signer(settings, credentials)
    )


def checkpoint_signer(settings: Settings, credentials: Credentials) -> NoteSigner:
    """The ledger's Ed25519 checkpoint key: made on first start, then shared by every worker."""
    name = settings.log_origin
    raw = credentials.secrets.get_or_create("checkpoint-ed25519", lambda: generate_signer(name)[1])
    return signer_from_private_bytes(name, raw)
