"""Request signatures: HMAC-SHA256 over method, path, timestamp, nonce and body hash.

A terminal signs every call with a secret derived from its API key, so a captured request
cannot be altered or replayed: the back end accepts a signature only within
:data:`WINDOW_S` of its own clock and remembers every nonce for that long. The canonical text
is::

    scanpay-v1\\n<METHOD>\\n<path>[?<query>]\\n<unix seconds>\\n<nonce>\\n<sha256 of the body, hex>

and the headers are ``X-ScanPay-Timestamp``, ``X-ScanPay-Nonce`` and ``X-ScanPay-Signature``
(lowercase hex). Sign each attempt anew: a retry reuses the idempotency key, never the nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

VERSION = "scanpay-v1"
WINDOW_S = 300.0
TIMESTAMP_HEADER = "X-ScanPay-Timestamp"
NONCE_HEADER = "X-ScanPay-Nonce"
SIGNATURE_HEADER = "X-ScanPay-Signature"
_LABEL = b"scanpay-request-signing/v1"


def signing_secret(api_key: str) -> bytes:
    """The HMAC secret of an API key (the back end stores it with the key's hash)."""
    return hmac.new(api_key.encode("utf-8"), _LABEL, hashlib.sha256).digest()


def canonical(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The signed text of one request; ``target`` is the path with its query, if any."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((VERSION, method.upper(), target, timestamp, nonce, digest)).encode("utf-8")


def signature(secret: bytes, method: str, target: str, timestamp: str, nonce: str,
              body: bytes) -> str:
    """Hex HMAC-SHA256 of the canonical text."""
    return hmac.new(secret, canonical(method, target, timestamp, nonce, body),
                    hashlib.sha256).hexdigest()


def target_of(url: str) -> str:
    """The path and query of ``url`` as the server sees them."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def sign_request(api_key: str, method: str, url: str, body: bytes | None,
                 now: float | None = None) -> dict[str, str]:
    """The signature headers for one attempt (empty when there is no API key)."""
    if not api_key:
        return {}
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    return {
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(signing_secret(api_key), method, target_of(url), timestamp,
                                    nonce, body or b""),
    }
