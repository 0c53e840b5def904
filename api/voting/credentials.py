"""Who may write: editor keys (stored only as SHA-256 hashes, revocable) and voter tokens.

Voter tokens are stateless: `voter_id.mac` where mac = HMAC-SHA256(ledger secret, voter_id), so a
vote costs no credential lookup and the events only ever see the pseudonymous voter_id. Keys and
tokens are 256-bit random or keyed, so a fast hash is the right one (no password stretching)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from eventsourcing.persistence import ApplicationRecorder

from api.voting.secrets import LedgerSecrets
from domain import rules
from domain.errors import Conflict, InvalidInput
from projections.database import Database

Role = Literal["editor", "moderator", "voter"]
KEY_ROLES: tuple[Role, ...] = ("editor", "moderator")
"""Roles a key is made for: editors run the catalog, moderators void ballots; neither may do
the other's work."""
EDITOR_KEY_PREFIX = "vle_"


@dataclass(frozen=True)
class Principal:
    role: Role
    name: str

    @property
    def actor(self) -> str:
        """How events name this principal: `editor:ann`, `moderator:mo`, `voter:v_x1y2`."""
        return f"{self.role}:{self.name}"


class KeyNameTaken(Conflict):
    type = "key-name-taken"


@dataclass(frozen=True)
class KeyInfo:
    """What `verdict keys list` shows of a key: never the key, nor its hash."""

    name: str
    role: str
    created_at: str
    revoked_at: str | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Credentials:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.db = Database(recorder)
        self.secrets = LedgerSecrets(self.db)

    def create_tables(self) -> None:
        self.secrets.create_table()
        with self.db.transaction(commit=True) as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS api_keys (name TEXT PRIMARY KEY, role TEXT NOT NULL, "
                "key_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT)"
            )

    # -- editor keys ------------------------------------------------------------------------

    def create_key(self, name: str, role: Role = "editor") -> str:
        """A new key for `name`; returned once, stored only as its hash. A name is given once:
        a revoked key keeps its row (and its revocation time), and its name stays its own, so
        `editor:NAME` (`moderator:NAME`) in the events always means one key."""
        rules.slug(name, "name")
        if role not in KEY_ROLES:
            raise InvalidInput(
                "role", "keys are for editors and moderators; voters register over HTTP"
            )
        key = EDITOR_KEY_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC).isoformat()
        with self.db.transaction(commit=True) as c:
            c.execute(self.db.sql("SELECT revoked_at FROM api_keys WHERE name=?"), (name,))
            row = c.fetchone()
            if row is not None:
                state = (
                    "an active key" if row["revoked_at"] is None else f"revoked {row['revoked_at']}"
                )
                raise KeyNameTaken(
                    f"the key name {name!r} is taken ({state}); names are never reused, so "
                    f"choose another, e.g. {name}-2"
                )
            c.execute(
                self.db.sql(
                    "INSERT INTO api_keys (name, role, key_hash, created_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (name) DO NOTHING RETURNING name"
                ),
                (name, role, _hash(key), now),
            )
            if c.fetchone() is None:  # created meanwhile by another process
                raise KeyNameTaken(f"the key name {name!r} is taken; choose another")
        return key

    def list_keys(self) -> list[KeyInfo]:
        """Every key ever created, revoked ones included, by name."""
        rows = self.db.fetch(
            "SELECT name, role, created_at, revoked_at FROM api_keys ORDER BY name"
        )
        return [KeyInfo(r["name"], r["role"], r["created_at"], r["revoked_at"]) for r in rows]

    def revoke_key(self, name: str) -> bool:
        """Revoke the named key; False when there is no active key of that name."""
        with self.db.transaction(commit=True) as c:
            c.execute(
                self.db.sql(
                    "UPDATE api_keys SET revoked_at=? WHERE name=? AND revoked_at IS NULL "
                    "RETURNING name"
                ),
                (datetime.now(UTC).isoformat(), name),
            )
            return c.fetchone() is not None

    def editor(self, key: str) -> Principal | None:
        """The editor or moderator holding this key, unless it is unknown, revoked or not even
        ASCII."""
        if not key.isascii() or not key.startswith(EDITOR_KEY_PREFIX):
            return None
        rows = self.db.fetch(
            "SELECT name, role FROM api_keys WHERE key_hash=? AND revoked_at IS NULL", (_hash(key),)
        )
        return Principal(rows[0]["role"], rows[0]["name"]) if rows else None

    # -- voter tokens -----------------------------------------------------------------------

    def register_voter(self) -> tuple[str, str]:
        """A fresh pseudonymous voter id and its bearer token."""
        voter_id = "v_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")
        return voter_id, f"{voter_id}.{self._mac(voter_id)}"

    def voter(self, token: str) -> Principal | None:
        """The voter this ledger issued `token` to, or None for anything else: tokens are ASCII,
        so any other text (a header or cookie a client made up) is nobody's, never an error."""
        if not token.isascii():
            return None
        voter_id, _, mac = token.partition(".")
        if not voter_id.startswith("v_") or not mac:
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(voter_id).encode()):
            return None
        return Principal("voter", voter_id)

    def _mac(self, voter_id: str) -> str:
        return _b64(hmac.new(self._voter_secret(), voter_id.encode(), hashlib.sha256).digest())

    def _voter_secret(self) -> bytes:
        """Created once per ledger; every worker reads the same one."""
        return self.secrets.get_or_create("voter-token", lambda: secrets.token_bytes(32))
