"""Checking request signatures (see :mod:`payments.clients.signing`): time window and nonces.

A signature is checked whenever a request carries one, and required of every authenticated
request when ``BackendSettings.require_signatures`` is on. Nonces are remembered for the
window, so a request replayed within it is refused as well as one replayed after it: in
process memory (:class:`LocalNonces`, one process) or in the database (:class:`StoredNonces`,
table ``request_nonces``), so that a request replayed to another worker process is refused too.
On SQLite that table lives in a file of its own next to the database (``<file>-nonces``,
:meth:`backend.store.BaseStore.companion`): a nonce is written for every signed request, and
those writes must not queue behind money and event writes for the one writer lock.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from payments.clients.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WINDOW_S,
    signature,
)

# Most nonces remembered at once (about 60 MB worst case); beyond it new calls wait (429).
MAX_NONCES = 500_000
_TS = TIMESTAMP_HEADER.lower().encode()
_NONCE = NONCE_HEADER.lower().encode()
_SIG = SIGNATURE_HEADER.lower().encode()

Refusal = tuple[int, str, str]
Seen = Literal["new", "replayed", "full"]
# Stored nonces are purged of expired ones at most this often (seconds of the clock).
PURGE_EVERY_S = 30.0

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS request_nonces (
    key_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (key_hash, nonce)
);
CREATE INDEX IF NOT EXISTS request_nonces_expiry ON request_nonces(expires_at);
"""


class NonceMemory(Protocol):
    """Where nonces are remembered until they may be forgotten."""

    def add(self, key_hash: str, nonce: str, now: float, until: float) -> Seen:
        """Remember ``(key_hash, nonce)`` until ``until``: "new", "replayed" or "full"."""
        ...


class LocalNonces:
    """Nonces in this process's memory, oldest first, at most ``max_nonces``."""

    def __init__(self, max_nonces: int = MAX_NONCES) -> None:
        self._max = max_nonces
        # (key hash, nonce) -> time it may be forgotten, oldest first.
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def add(self, key_hash: str, nonce: str, now: float, until: float) -> Seen:
        """See :meth:`NonceMemory.add`."""
        while self._seen:
            _, first = next(iter(self._seen.items()))
            if first > now:
                break
            self._seen.popitem(last=False)
        seen_key = (key_hash, nonce)
        if seen_key in self._seen:
            return "replayed"
        if len(self._seen) >= self._max:
            return "full"
        self._seen[seen_key] = until
        return "new"


class StoredNonces:
    """Nonces in the back end's database, shared by every worker process on it: the first
    ``INSERT`` of a (key, nonce) wins, a second one (any process) finds it there."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._next_purge = 0.0

    def add(self, key_hash: str, nonce: str, now: float, until: float) -> Seen:
        """See :meth:`NonceMemory.add`."""
        with self._store.transaction() as conn:
            if now >= self._next_purge:
                self._next_purge = now + PURGE_EVERY_S
                conn.execute("DELETE FROM request_nonces WHERE expires_at <= ?", (now,))
            cur = conn.execute("INSERT INTO request_nonces(key_hash, nonce, expires_at)"
                               " VALUES (?, ?, ?) ON CONFLICT (key_hash, nonce) DO NOTHING",
                               (key_hash, nonce, until))
            return "new" if cur.rowcount == 1 else "replayed"


class SignatureChecker:
    """Verifies signatures against the injected clock and remembers nonces for the window."""

    def __init__(self, clock: Callable[[], float], *, required: bool,
                 window_s: float = WINDOW_S, max_nonces: int = MAX_NONCES,
                 nonces: NonceMemory | None = None) -> None:
        self._clock = clock
        self.required = required
        self._window_s = window_s
        self._nonces: NonceMemory = nonces if nonces is not None else LocalNonces(max_nonces)

    @staticmethod
    def signed(headers: Mapping[bytes, bytes]) -> bool:
        """Whether the request carries any signature header (only then are nonces read)."""
        return _TS in headers or _NONCE in headers or _SIG in headers

    def check(self, *, key_hash: str, secret: bytes, method: str, target: str,
              headers: Mapping[bytes, bytes], body: bytes) -> Refusal | None:
        """Why the request's signature is refused, or None when it is good (or not needed)."""
        given = {name: headers.get(name, b"").decode("latin-1").strip()
                 for name in (_TS, _NONCE, _SIG)}
        if not any(given.values()):
            if self.required:
                return 401, "signature_required", (
                    f"sign the request ({TIMESTAMP_HEADER}, {NONCE_HEADER}, {SIGNATURE_HEADER})")
            return None
        if not all(given.values()):
            return 401, "signature_invalid", "send all three signature headers"
        timestamp, nonce, sig = given[_TS], given[_NONCE], given[_SIG]
        if not timestamp.isdigit() or not 16 <= len(nonce) <= 64 or not nonce.isalnum():
            return 401, "signature_invalid", "malformed signature headers"
        now = self._clock()
        if abs(now - int(timestamp)) > self._window_s:
            return 401, "signature_expired", (
                f"the signature's time is more than {self._window_s:.0f} s from the server's")
        if not secret or not hmac.compare_digest(
                signature(secret, method, target, timestamp, nonce, body), sig.lower()):
            return 401, "signature_invalid", "the signature does not match the request"
        seen = self._nonces.add(key_hash, nonce, now, now + 2 * self._window_s)
        if seen == "replayed":
            return 401, "signature_replayed", "this request was already received"
        if seen == "full":
            return 429, "too_many_requests", "too many signed requests; retry shortly"
        return None
