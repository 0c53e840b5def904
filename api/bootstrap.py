"""The composition root: settings in, a running ledger with its views and follower out."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.credentials import Credentials
from domain.application import Ledger
from domain.settings import Settings
from projections.follower import CatalogFollower, FollowerThread
from projections.views import ViewStore
from projections.wakeup import PostgresWakeup


@dataclass
class Runtime:
    settings: Settings
    ledger: Ledger
    views: ViewStore
    credentials: Credentials
    _threads: list[FollowerThread | PostgresWakeup] = field(default_factory=list)

    def follow(self) -> FollowerThread:
        """Keep the views up to date in this process: woken by local saves and, on PostgreSQL,
        by NOTIFY from other processes; polling covers anything a wake-up misses."""
        thread = FollowerThread(CatalogFollower(self.ledger.recorder, self.views))
        self.ledger.add_listener(thread.wake)
        self._threads.append(thread)
        if self.settings.is_postgres:
            channel = self.ledger.recorder.channel_name  # type: ignore[attr-defined]
            wakeup = PostgresWakeup(self.settings.database_url, channel, thread.wake)
            self._threads.append(wakeup)
        for t in self._threads:
            t.start()
        return thread

    def close(self) -> None:
        for t in reversed(self._threads):
            t.stop()
        self._threads.clear()
        self.ledger.close()


def open_runtime(settings: Settings) -> Runtime:
    ledger = Ledger(settings)
    views = ViewStore(ledger.recorder)
    credentials = Credentials(ledger.recorder)
    if settings.create_tables:
        views.create_tables()
        credentials.create_tables()
    return Runtime(settings, ledger, views, credentials)
