"""What a router gets from the app: the back end, the calling terminal, the request id.

Use these as FastAPI dependencies::

    @router.get("/v1/things/{thing_id}")
    def get_thing(thing_id: str, backend: BackendDep, terminal_id: TerminalId) -> dict[str, Any]:
        with backend.store.transaction() as conn:
            ...
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, Request

from payments.money import Money, MoneyError
from payments.paycode import public_key_id, signing_key_from_seed
from terminal.emulator.backend.errors import ApiError
from terminal.emulator.backend.settings import BackendSettings
from terminal.emulator.backend.store import Store

_BEARER_RE = re.compile(r"Bearer ([A-Za-z0-9_\-]{8,128})")


@dataclass(frozen=True)
class Backend:
    """Everything a route handler needs: settings, storage, clock and signing keys."""

    settings: BackendSettings
    store: Store
    signing_key: Ed25519PrivateKey

    @classmethod
    def open(cls, settings: BackendSettings) -> Backend:
        """Open the database and derive the signing key."""
        key = signing_key_from_seed(bytes.fromhex(settings.signing_seed_hex))
        return cls(settings=settings, store=Store(settings.database), signing_key=key)

    @property
    def clock(self) -> Callable[[], float]:
        """The injected unix-time clock."""
        return self.settings.clock

    def now(self) -> float:
        """Current unix time from the injected clock."""
        return float(self.settings.clock())

    @property
    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Key id -> public key of every payment-code signing key this back end accepts."""
        pub = self.signing_key.public_key()
        return {public_key_id(pub): pub}

    def api_key_for(self, terminal_id: str) -> str:
        """The API key of ``terminal_id`` (derived from the signing seed; registered on use)."""
        digest = hmac.new(bytes.fromhex(self.settings.signing_seed_hex),
                          b"api-key:" + terminal_id.encode("utf-8"), hashlib.sha256).hexdigest()
        key = f"sk_{digest[:40]}"
        with self.store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO api_keys(key_hash, terminal_id) VALUES (?, ?)",
                         (_hash_key(key), terminal_id))
        return key

    def register_api_key(self, key: str, terminal_id: str) -> None:
        """Accept ``key`` as the API key of ``terminal_id``."""
        with self.store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO api_keys(key_hash, terminal_id) VALUES (?, ?)",
                         (_hash_key(key), terminal_id))

    def close(self) -> None:
        """Close the database; idempotent."""
        self.store.close()


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def rfc3339(ts: float) -> str:
    """Unix seconds as an RFC 3339 UTC string, e.g. ``2026-11-26T10:30:00Z``."""
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float | None:
    """Unix seconds of an RFC 3339 UTC string ending in ``Z``; None when malformed."""
    if not isinstance(text, str) or not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z", text
    ):
        return None
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00").timestamp()
    except ValueError:
        return None


def get_backend(request: Request) -> Backend:
    """FastAPI dependency: the app's :class:`Backend`."""
    return request.app.state.backend  # type: ignore[no-any-return]


def request_id(request: Request) -> str:
    """FastAPI dependency: this request's id (also sent as ``X-Request-Id``)."""
    return str(getattr(request.state, "request_id", "req_unknown"))


def authenticated_terminal(request: Request) -> str:
    """FastAPI dependency: the terminal id of the Bearer API key, or ``401 unauthenticated``."""
    header = request.headers.get("authorization", "")
    match = _BEARER_RE.fullmatch(header.strip())
    if not match:
        raise ApiError(401, "unauthenticated",
                       "missing or malformed API key; send 'Authorization: Bearer <key>'")
    backend = get_backend(request)
    with backend.store.transaction() as conn:
        row = conn.execute("SELECT terminal_id FROM api_keys WHERE key_hash = ?",
                           (_hash_key(match.group(1)),)).fetchone()
    if row is None:
        raise ApiError(401, "unauthenticated", "unknown API key")
    return str(row["terminal_id"])


def money_from(data: Any) -> Money:
    """Parse wire money or raise ``400 invalid_money``; amounts must be positive."""
    try:
        money = Money.from_json(data)
    except MoneyError as exc:
        raise ApiError(400, "invalid_money", str(exc)) from None
    if money.amount_minor <= 0:
        raise ApiError(400, "invalid_money", "amount_minor must be a positive integer")
    return money


def subject_exists(conn: sqlite3.Connection, subject_id: str) -> bool:
    """Whether ``subject_id`` is a known payer."""
    return conn.execute("SELECT 1 FROM subjects WHERE subject_id = ?",
                        (subject_id,)).fetchone() is not None


# Annotated dependencies for route signatures.
BackendDep = Annotated[Backend, Depends(get_backend)]
TerminalId = Annotated[str, Depends(authenticated_terminal)]
RequestId = Annotated[str, Depends(request_id)]
