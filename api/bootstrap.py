"""The composition root: settings in, a running ledger with its views and follower out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from api.server.witnessing import WitnessSubmitter
from api.site.editor_sessions import EditorSessions
from api.voting.credentials import Credentials
from api.voting.registrations import Registrations
from domain.application import Ledger
from domain.persistence.backoff import Backoff
from domain.settings import Settings
from projections.audit.log import AUDIT, AuditProjection, AuditStore
from projections.audit.promise import PromiseSigner
from projections.audit.sealing import ReceiptSealer
from projections.audit.signed_note import NoteSigner, generate_signer, signer_from_private_bytes
from projections.audit.witness_store import WitnessStore
from projections.catalog.poller import CatalogPoller
from projections.catalog.views import CATALOG, CatalogProjection, CatalogSnapshot, ViewStore
from projections.following.follower import IDLE_POLL_SECONDS, Follower, FollowerThread
from projections.following.generations import Layout
from projections.following.rebuild import RebuildThread
from projections.following.wakeup import PostgresWakeup

PROJECTIONS = (CATALOG, AUDIT)
"""Every projection this ledger keeps, by name: each has its own row in `view_tracking` and may
run in its own process (`verdict project NAME`)."""

BatchObserver = Callable[[str], Callable[[int], None]]
FOLLOWER_RETRY_MOST_SECONDS = 10.0
"""A follower retries a database error after its poll interval, doubling up to this."""
LISTEN_RETRY_FIRST_SECONDS = 0.2
LISTEN_RETRY_MOST_SECONDS = 10.0
"""A dropped LISTEN connection is reopened after 0.2 s, doubling up to this."""


@dataclass
class Runtime:
    settings: Settings
    ledger: Ledger
    views: ViewStore
    credentials: Credentials
    audit: AuditStore
    signer: NoteSigner
    witnessed: WitnessStore
    sealer: ReceiptSealer
    _threads: list[
        FollowerThread | PostgresWakeup | CatalogPoller | WitnessSubmitter | RebuildThread
    ] = field(default_factory=list)

    def projections(self) -> list[CatalogProjection | AuditProjection]:
        """Every projection this ledger keeps, each with its own tracking row."""
        return [self.projection(name) for name in PROJECTIONS]

    def projection(self, name: str) -> CatalogProjection | AuditProjection:
        """One projection (its serving generation), loaded from its last committed position."""
        if name == CATALOG:
            return CatalogProjection(self.views)
        if name == AUDIT:
            return self.audit_projection()
        raise KeyError(name)

    def layout(self, name: str) -> Layout:
        """The projection's tables and the fold version of the running code."""
        return {CATALOG: self.views.layout, AUDIT: self.audit.layout}[name]

    def outdated(self, name: str) -> bool:
        """Whether the serving generation was built by folds of another version."""
        found = self.views.generations.read(name)
        return found is not None and found.version != self.layout(name).version

    def rebuilding(self) -> dict[str, dict[str, int]]:
        """Each projection with a generation being built: its version and position."""
        found: dict[str, dict[str, int]] = {}
        for name in PROJECTIONS:
            row = self.views.generations.read(name)
            if row is not None and row.building is not None:
                position = self.views.tracking.tracked(f"{name}:g{row.building}")[0]
                found[name] = {"version": row.building_version or 0, "position": position}
        return found

    def audit_projection(self) -> AuditProjection:
        return AuditProjection(self.audit, self.signer, self.settings.log_origin)

    def follow(
        self,
        names: Sequence[str] = PROJECTIONS,
        on_batch: BatchObserver | None = None,
        poll_interval: float = IDLE_POLL_SECONDS,
        batch_window: float = 0.0,
    ) -> list[FollowerThread]:
        """Keep the named projections up to date in this process: woken by local saves and, on
        PostgreSQL, by NOTIFY from other processes; polling (every `poll_interval` seconds)
        covers anything a wake-up misses. `on_batch(name)` may return a callable told the size
        of each committed batch (metrics). `batch_window`: see FollowerThread."""
        recorder = self.ledger.recorder
        followers = [
            FollowerThread(
                Follower(recorder, self.projection(n), progress=on_batch(n) if on_batch else None),
                retry=Backoff(poll_interval, max(poll_interval, FOLLOWER_RETRY_MOST_SECONDS)),
                poll_interval=poll_interval,
                batch_window=batch_window,
            )
            for n in names
        ]
        for follower in followers:
            self.ledger.add_listener(follower.wake)
        self._threads.extend(followers)
        for name, follower in zip(names, followers, strict=True):
            if self.outdated(name):
                # Folds of a new version: build the new views beside the old, which serve.
                self._threads.append(
                    RebuildThread(
                        recorder,
                        self.projection(name),
                        retry=Backoff(poll_interval, FOLLOWER_RETRY_MOST_SECONDS),
                        on_switched=follower.wake,
                    )
                )
        if self.settings.is_postgres:
            # PostgreSQL's recorder has the NOTIFY channel; the base class type does not say so.
            channel = self.ledger.recorder.channel_name  # type: ignore[attr-defined]  # see above

            def wake_all() -> None:
                for follower in followers:
                    follower.wake()

            retry = Backoff(LISTEN_RETRY_FIRST_SECONDS, LISTEN_RETRY_MOST_SECONDS)
            wakeup = PostgresWakeup(self.settings.database_url, channel, wake_all, retry=retry)
            self._threads.append(wakeup)
        if AUDIT in names:
            self._threads.extend(self.witness_submitters())
        for t in self._threads:
            t.start()
        return followers

    def wait_caught_up(self, timeout: float) -> bool:
        """Wait until every projection has folded the log as it ends now; False if `timeout`
        seconds passed first (wherever the projections are followed)."""
        end = self.ledger.recorder.max_notification_id() or 0
        deadline = time.monotonic() + timeout
        for name in PROJECTIONS:
            left = max(0.0, deadline - time.monotonic())
            if self.views.tracking.wait_for(name, end, left) < end:
                return False
        return True

    def witness_submitters(self) -> list[WitnessSubmitter]:
        """One per configured witness: they ask for cosignatures where checkpoints are signed
        (the audit log's follower), never on the write path."""
        return [WitnessSubmitter(w, self.audit, self.witnessed) for w in self.settings.witnesses]

    def poll_catalog(self) -> None:
        """Keep a snapshot of the catalog that another process follows (`verdict project
        catalog`), for `catalog_snapshot`."""
        poller = CatalogPoller(self.views)
        poller.start()
        self._threads.append(poller)

    def catalog_snapshot(self) -> CatalogSnapshot | None:
        """The tool documents this process's catalog follower last committed, or its poller
        last read (None when neither runs here)."""
        for thread in self._threads:
            if isinstance(thread, CatalogPoller):
                return thread.snapshot
            if isinstance(thread, FollowerThread):
                projection = thread.follower.projection
                if isinstance(projection, CatalogProjection):
                    return projection.snapshot
        return None

    def followers(self) -> list[FollowerThread]:
        """The follower threads `follow` started (for supervision: are they all alive?)."""
        return [t for t in self._threads if isinstance(t, FollowerThread)]

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
    witnessed = WitnessStore(ledger.recorder)
    if settings.create_tables:
        views.create_tables()
        credentials.create_tables()
        EditorSessions(credentials).create_table()
        Registrations(credentials, settings.registration_retention_days).create_table()
        audit.create_tables()
        witnessed.create_tables()
    signer = checkpoint_signer(settings, credentials)
    sealer = receipt_sealer(settings, signer)
    if ledger.ballots is not None:
        ledger.ballots.sealer = sealer.seal
    return Runtime(settings, ledger, views, credentials, audit, signer, witnessed, sealer)


def receipt_sealer(settings: Settings, signer: NoteSigner) -> ReceiptSealer:
    """Seals receipts with leaf hashes and, unless VERDICT_PROMISES=false, promises signed by
    the log key, due VERDICT_PROMISE_SECONDS after signing."""
    window = timedelta(seconds=settings.promise_seconds)
    promises = PromiseSigner(signer, settings.log_origin, window) if settings.promises else None
    return ReceiptSealer(promises)


def checkpoint_signer(settings: Settings, credentials: Credentials) -> NoteSigner:
    """The ledger's Ed25519 checkpoint key: made on first start, then shared by every worker."""
    name = settings.log_origin
    raw = credentials.secrets.get_or_create("checkpoint-ed25519", lambda: generate_signer(name)[1])
    return signer_from_private_bytes(name, raw)
