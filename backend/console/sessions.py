"""Console sessions: random tokens in an HttpOnly cookie, kept only as SHA-256 hashes.

A session belongs to one operator and the API key they signed in with; it ends at logout, after
:data:`IDLE_TIMEOUT_S` without a request, after :data:`ABSOLUTE_TIMEOUT_S` in any case, or as soon
as that key stops being a usable operator key (rotated out, expired). Every POST carries a CSRF
token derived from the session token (HMAC), so it is never stored and changes with the session.
Sign-in links are spent here too: their nonces are remembered until they would have expired.

SQL is portable (SQLite and PostgreSQL): ``?`` placeholders, ``ON CONFLICT ... DO NOTHING``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from backend.console.links import LinkClaims, LinkError

IDLE_TIMEOUT_S = 30 * 60
ABSOLUTE_TIMEOUT_S = 8 * 3600
_CSRF_LABEL = b"scanpay-console-csrf/1"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS console_sessions (
    session_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    ended_at REAL
);
CREATE TABLE IF NOT EXISTS console_link_uses (
    nonce TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    used_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
"""

Conn = sqlite3.Connection | Any


@dataclass(frozen=True)
class ConsoleSession:
    """A live session: who signed in, with which key, and until when."""

    operator_id: str
    key_id: str
    created_at: float
    expires_at: float
    token: str

    @property
    def csrf_token(self) -> str:
        """The CSRF token every POST of this session must carry."""
        return csrf_token(self.token)


def hash_token(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session (HMAC of its token; the server recomputes it)."""
    return hmac.new(session_token.encode("utf-8"), _CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, sent: str) -> bool:
    """Whether ``sent`` is the session's CSRF token (constant-time)."""
    return bool(sent) and hmac.compare_digest(csrf_token(session_token), sent)


def create_session(conn: Conn, *, operator_id: str, key_id: str, now: float) -> ConsoleSession:
    """Start a session; the returned token goes into the cookie and is never stored."""
    token = secrets.token_urlsafe(32)
    expires = now + ABSOLUTE_TIMEOUT_S
    conn.execute(
        "INSERT INTO console_sessions (session_hash, operator_id, key_id, created_at, "
        "last_seen_at, expires_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, NULL)",
        (hash_token(token), operator_id, key_id, now, now, expires))
    return ConsoleSession(operator_id, key_id, now, expires, token)


def touch_session(conn: Conn, token: str, now: float, *,
                  active: bool = True) -> ConsoleSession | None:
    """The live session of ``token``, or None when unknown, ended, idle too long or past its
    absolute expiry. ``active`` (a person's request, not a page refreshing itself) restarts
    its idle timer."""
    if not token or len(token) > 128:
        return None
    row = conn.execute(
        "SELECT operator_id, key_id, created_at, last_seen_at, expires_at, ended_at "
        "FROM console_sessions WHERE session_hash = ?", (hash_token(token),)).fetchone()
    if row is None or row[5] is not None:
        return None
    if now >= float(row[4]) or now - float(row[3]) >= IDLE_TIMEOUT_S:
        end_session(conn, token, now)
        return None
    if active:
        conn.execute("UPDATE console_sessions SET last_seen_at = ? WHERE session_hash = ?",
                     (now, hash_token(token)))
    return ConsoleSession(str(row[0]), str(row[1]), float(row[2]), float(row[4]), token)


def end_session(conn: Conn, token: str, now: float) -> None:
    """End a session (logout, expiry, key withdrawn); ending an ended one changes nothing."""
    conn.execute("UPDATE console_sessions SET ended_at = ? WHERE session_hash = ? "
                 "AND ended_at IS NULL", (now, hash_token(token)))


def spend_link(conn: Conn, claims: LinkClaims, now: float) -> None:
    """Record a sign-in link's nonce as used; LinkError('used') if it was used before.
    Nonces of links long expired are forgotten (they can never be accepted again anyway)."""
    conn.execute("DELETE FROM console_link_uses WHERE expires_at < ?", (now - 3600,))
    cur = conn.execute(
        "INSERT INTO console_link_uses (nonce, operator_id, used_at, expires_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (nonce) DO NOTHING",
        (claims.nonce, claims.operator_id, now, float(claims.expires_at)))
    if cur.rowcount != 1:
        raise LinkError("used", "this sign-in link was already used; each link signs in once. "
                                "Ask for a new one")
