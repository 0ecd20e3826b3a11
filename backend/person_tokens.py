"""A person's report tokens: opaque bearer tokens, short-lived, stored only as hashes.

A token is issued to the person who proves the account with a fresh wallet payment code
(``POST /v1/person/sessions``), or to a terminal that served the person, for the QR on its
decision screen (``POST /v1/person/report-links``). It reads that one person's report and
opens or lists their disputes, nothing else, and expires after ``person_token_ttl_s``
(15 minutes by default).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from dataclasses import dataclass

from backend.errors import ApiError

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS person_tokens (
    token_hash TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    issued_via TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS person_tokens_expiry ON person_tokens(expires_at);
"""

PREFIX = "pt_"
_TOKEN_RE = re.compile(r"pt_[A-Za-z0-9_\-]{43}")
_HEADER_RE = re.compile(r"Bearer (\S{1,200})")


@dataclass(frozen=True)
class PersonToken:
    """A token just issued (the only time its text exists outside the person's hands)."""

    token: str
    subject_id: str
    expires_at: float


def token_hash(token: str) -> str:
    """SHA-256 of a token (what is stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue(conn: sqlite3.Connection, subject_id: str, *, via: str, issued_by: str, now: float,
          ttl_s: float) -> PersonToken:
    """A new token for ``subject_id`` (``via``: ``payment_code`` or ``report_link``); expired
    tokens are swept on the way."""
    conn.execute("DELETE FROM person_tokens WHERE expires_at <= ?", (now,))
    token = PREFIX + secrets.token_urlsafe(32)
    conn.execute("INSERT INTO person_tokens(token_hash, subject_id, issued_via, issued_by,"
                 " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                 (token_hash(token), subject_id, via, issued_by, now, now + ttl_s))
    return PersonToken(token, subject_id, now + ttl_s)


def subject_of(conn: sqlite3.Connection, authorization: str, now: float) -> str:
    """The subject a ``Bearer <token>`` header speaks for; ``401 unauthenticated`` when the
    token is missing, unknown or expired (all look alike)."""
    match = _HEADER_RE.fullmatch(authorization.strip())
    if match is None or not _TOKEN_RE.fullmatch(match.group(1)):
        raise ApiError(401, "unauthenticated",
                       "send 'Authorization: Bearer <report token>' (from your payment code "
                       "or the QR on a terminal's screen)")
    row = conn.execute("SELECT subject_id, expires_at FROM person_tokens WHERE token_hash = ?",
                       (token_hash(match.group(1)),)).fetchone()
    if row is None or float(row["expires_at"]) <= now:
        raise ApiError(401, "unauthenticated",
                       "this report token is unknown or expired; ask for a new one")
    return str(row["subject_id"])
