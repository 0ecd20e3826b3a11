"""One-time sign-in links for the operator console: minted by the CLI, checked by the back end.

A link carries ``<payload>.<mac>`` where the payload names the operator, the key id of their API
key, an expiry (unix seconds) and a random nonce, and the MAC is HMAC-SHA256 under a secret
derived from that API key's request-signing secret (held in the keyring, never sent). Whoever
holds the keyring can mint links; the back end checks the MAC and the expiry and then spends the
nonce once (:mod:`backend.console.sessions`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from backend.errors import BackendError

_LABEL = b"scanpay-console-link/1"
# Links live this long by default, and never longer than MAX_LINK_TTL_S.
DEFAULT_LINK_TTL_S = 300
MAX_LINK_TTL_S = 900
_ID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_NONCE_RE = re.compile(r"[0-9a-f]{32}")


class LinkError(BackendError):
    """A sign-in link is malformed, forged, expired or already used; ``reason`` says which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaims:
    """What a well-formed link claims (not yet checked against a key)."""

    operator_id: str
    key_id: str
    expires_at: int
    nonce: str
    payload: str
    mac: str


def link_secret(sign_secret: bytes) -> bytes:
    """The secret sign-in links of an API key are MACed with (separate from request signing)."""
    if not sign_secret:
        raise BackendError("this API key has no signing secret; create a new operator key "
                           "(scanpay backend keys rotate api --terminal ID)")
    return hmac.new(sign_secret, _LABEL, hashlib.sha256).digest()


def mint_link_token(*, operator_id: str, key_id: str, sign_secret: bytes, now: float,
                    ttl_s: int = DEFAULT_LINK_TTL_S, nonce: str | None = None) -> str:
    """A one-time sign-in token for ``operator_id`` valid for ``ttl_s`` seconds from ``now``."""
    if not _ID_RE.fullmatch(operator_id) or not _ID_RE.fullmatch(key_id):
        raise BackendError("operator and key ids are 1..64 letters, digits, '_', '.', ':', '-'")
    if not 1 <= ttl_s <= MAX_LINK_TTL_S:
        raise BackendError(f"a sign-in link lives 1..{MAX_LINK_TTL_S} seconds, not {ttl_s}")
    nonce = nonce or secrets.token_hex(16)
    text = f"{operator_id}|{key_id}|{int(now) + ttl_s}|{nonce}"
    payload = _b64(text.encode("utf-8"))
    return f"{payload}.{_mac(link_secret(sign_secret), payload)}"


def parse_link_token(token: str) -> LinkClaims:
    """The claims of ``token``; LinkError('malformed') when it is not a sign-in token."""
    bad = LinkError("malformed", "this sign-in link is damaged or incomplete; "
                                 "ask for a new one (scanpay backend console-link)")
    if not isinstance(token, str) or len(token) > 512 or token.count(".") != 1:
        raise bad
    payload, mac = token.split(".")
    try:
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    parts = text.split("|")
    if len(parts) != 4 or not _ID_RE.fullmatch(parts[0]) or not _ID_RE.fullmatch(parts[1]) \
            or not parts[2].isdigit() or not _NONCE_RE.fullmatch(parts[3]):
        raise bad
    return LinkClaims(parts[0], parts[1], int(parts[2]), parts[3], payload, mac)


def check_link_mac(claims: LinkClaims, sign_secret: bytes) -> None:
    """Raise LinkError('forged') unless the token's MAC was made with this key's secret."""
    expected = _mac(link_secret(sign_secret), claims.payload)
    if not hmac.compare_digest(expected, claims.mac):
        raise LinkError("forged", "this sign-in link was not issued for this back end's "
                                  "operator key; ask for a new one")


def check_link_time(claims: LinkClaims, now: float) -> None:
    """Raise LinkError('expired') after the link's expiry (or one claiming too long a life)."""
    if now >= claims.expires_at:
        raise LinkError("expired", "this sign-in link has expired (links last "
                                   f"{DEFAULT_LINK_TTL_S // 60} minutes); ask for a new one")
    if claims.expires_at - now > MAX_LINK_TTL_S + 60:
        raise LinkError("forged", "this sign-in link claims to live longer than any link may")


def _mac(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
