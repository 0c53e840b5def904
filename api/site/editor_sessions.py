"""Editor console sessions, kept server-side and bound to the key that opened them.

The cookie holds only a random session id (`vls_…`, scrubbed from logs like a key); the table
holds its SHA-256, the key's hash and an expiry. Every request joins the session to `api_keys`,
so a session dies the moment its key is revoked (or replaced under the same name), and at
SESSION_SECONDS after sign-in whatever the browser does with the cookie."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from api.voting.credentials import Credentials, Principal
from projections.database import Database

SESSION_PREFIX = "vls_"
SESSION_SECONDS = 8 * 3600
"""A working day: long enough for an editing session, short enough that a forgotten browser
is signed out by the next morning."""


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class EditorSessions:
    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.db: Database = credentials.db

    def create_table(self) -> None:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS editor_sessions (session_hash TEXT PRIMARY KEY, "
            "key_hash TEXT NOT NULL, expires_at TEXT NOT NULL)"
        )

    def sign_in(self, key: str) -> tuple[Principal, str] | None:
        """A new session for the editor holding `key`, or None for anything else (a voter
        token, an unknown or revoked key). Expired sessions are swept on the way."""
        editor = self.credentials.editor(key)
        if editor is None:
            return None
        session = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = (now + timedelta(seconds=SESSION_SECONDS)).isoformat()
        with self.db.transaction(commit=True) as c:
            c.execute(
                self.db.sql("DELETE FROM editor_sessions WHERE expires_at < ?"), (now.isoformat(),)
            )
            c.execute(
                self.db.sql(
                    "INSERT INTO editor_sessions (session_hash, key_hash, expires_at) "
                    "VALUES (?, ?, ?)"
                ),
                (_hash(session), _hash(key), expires),
            )
        return editor, session

    def principal(self, session: str) -> Principal | None:
        """Who holds a live session (unexpired, its key still active), in the key's role."""
        if not session.startswith(SESSION_PREFIX):
            return None
        rows = self.db.fetch(
            "SELECT k.name, k.role FROM editor_sessions s JOIN api_keys k "
            "ON k.key_hash = s.key_hash AND k.revoked_at IS NULL "
            "WHERE s.session_hash = ? AND s.expires_at > ?",
            (_hash(session), datetime.now(UTC).isoformat()),
        )
        return Principal(rows[0]["role"], rows[0]["name"]) if rows else None

    def sign_out(self, session: str) -> None:
        self.db.execute("DELETE FROM editor_sessions WHERE session_hash = ?", (_hash(session),))
