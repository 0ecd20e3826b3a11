"""Checking request signatures (see :mod:`payments.clients.signing`): time window and nonces.

A signature is checked whenever a request carries one, and required of every authenticated
request when ``BackendSettings.require_signatures`` is on. Nonces are remembered for the
window, so a request replayed within it is refused as well as one replayed after it.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from collections.abc import Callable, Mapping

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


class SignatureChecker:
    """Verifies signatures against the injected clock and remembers nonces for the window."""

    def __init__(self, clock: Callable[[], float], *, required: bool,
                 window_s: float = WINDOW_S, max_nonces: int = MAX_NONCES) -> None:
        self._clock = clock
        self.required = required
        self._window_s = window_s
        self._max = max_nonces
        # (key hash, nonce) -> time it may be forgotten, oldest first.
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

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
        self._forget(now)
        seen_key = (key_hash, nonce)
        if seen_key in self._seen:
            return 401, "signature_replayed", "this request was already received"
        if len(self._seen) >= self._max:
            return 429, "too_many_requests", "too many signed requests; retry shortly"
        self._seen[seen_key] = now + 2 * self._window_s
        return None

    def _forget(self, now: float) -> None:
        while self._seen:
            _, until = next(iter(self._seen.items()))
            if until > now:
                break
            self._seen.popitem(last=False)
