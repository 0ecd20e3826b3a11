"""App payment codes: signed, expiring, single-use codes a rider's wallet app shows as a QR.

Format (see docs/payment-codes.md)::

    SP1.<base64url(payload)>.<base64url(signature)>

The payload is compact ASCII JSON ``{"v":1,"cid":..,"sub":..,"iat":..,"exp":..,"iss":..}``;
the Ed25519 signature covers the ASCII text ``SP1.<base64url(payload)>``. Base64url is unpadded
and must be canonical, so no two texts carry the same signed content.

Roles: the payment service issues codes (:func:`issue_code`); a terminal parses them and checks
structure and expiry without the network (:func:`parse_code`, :func:`check_locally`,
:class:`ReplayGuard`); the gateway (and a terminal holding the public key) checks the signature
(:func:`verify_signature`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from payments.errors import PaymentsError

log = logging.getLogger(__name__)

PREFIX = "SP1"
VERSION = 1
DEFAULT_TTL_S = 60
# Longest lifetime a code may claim; anything longer is malformed.
MAX_TTL_S = 3600
# Longest text parse_code looks at; real codes are about 230 characters.
MAX_CODE_CHARS = 512
CODE_ID_BYTES = 16
SIGNATURE_BYTES = 64

_SUBJECT_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_ISSUER_RE = re.compile(r"[A-Za-z0-9_\-]{1,32}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_\-]*")
_KEYS = frozenset({"v", "cid", "sub", "iat", "exp", "iss"})

# Stable error codes (also the gateway's API error codes).
CODE_MALFORMED = "code_malformed"
CODE_EXPIRED = "code_expired"
CODE_ALREADY_USED = "code_already_used"
CODE_SIGNATURE_INVALID = "code_signature_invalid"
CODE_NOT_YET_VALID = "code_not_yet_valid"


class PaymentCodeError(PaymentsError):
    """A payment code was rejected; ``code`` is a stable snake_case reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


class PaymentKeyError(PaymentsError):
    """A signing or public key is malformed."""


class PaymentCodeIssueError(PaymentsError):
    """A payment code cannot be issued with the given subject, lifetime or issuer."""


@dataclass(frozen=True)
class PaymentCode:
    """A structurally valid payment code (signature not yet checked)."""

    code_id: str
    subject_id: str
    issued_at: int
    expires_at: int
    issuer: str
    signed_part: bytes
    signature: bytes
    text: str


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str, what: str) -> bytes:
    if not _B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        raise PaymentCodeError(CODE_MALFORMED, f"the {what} is not base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PaymentCodeError(CODE_MALFORMED, f"the {what} is not base64url text") from None
    if _b64e(data) != text:  # non-canonical: unused trailing bits set
        raise PaymentCodeError(CODE_MALFORMED, f"the {what} is not canonical base64url")
    return data


def _malformed(message: str) -> PaymentCodeError:
    return PaymentCodeError(CODE_MALFORMED, message)


# --- keys -----------------------------------------------------------------------------------


def signing_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """The Ed25519 signing key of a 32-byte ``seed`` (keep the seed secret)."""
    if not isinstance(seed, bytes | bytearray) or len(seed) != 32:
        raise PaymentKeyError("a signing seed must be exactly 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(seed))


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    """The Ed25519 public key of its 32 raw bytes (e.g. from ``bytes.fromhex`` of a config)."""
    if not isinstance(raw, bytes | bytearray) or len(raw) != 32:
        raise PaymentKeyError("an Ed25519 public key must be exactly 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(raw))
    except ValueError as exc:
        raise PaymentKeyError(f"not an Ed25519 public key: {exc}") from None


def public_key_bytes(pubkey: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of ``pubkey``."""
    return pubkey.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_id(pubkey: Ed25519PublicKey) -> str:
    """A short stable id of ``pubkey`` (base64url of the first 6 bytes of its SHA-256)."""
    return _b64e(hashlib.sha256(public_key_bytes(pubkey)).digest()[:6])


# --- issue / parse --------------------------------------------------------------------------


def issue_code(
    subject_id: str,
    *,
    signing_key: Ed25519PrivateKey,
    now: float,
    ttl_s: int = DEFAULT_TTL_S,
    issuer: str | None = None,
    code_id: bytes | None = None,
) -> str:
    """Issue a signed code for ``subject_id`` valid from ``now`` for ``ttl_s`` seconds.

    ``issuer`` defaults to :func:`public_key_id` of the signing key; ``code_id`` (16 bytes)
    defaults to fresh random bytes.
    """
    if not isinstance(subject_id, str) or not _SUBJECT_RE.fullmatch(subject_id):
        raise PaymentCodeIssueError("subject id must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not 1 <= ttl_s <= MAX_TTL_S:
        raise PaymentCodeIssueError(f"ttl_s must be an integer in 1..{MAX_TTL_S}")
    iss = issuer if issuer is not None else public_key_id(signing_key.public_key())
    if not _ISSUER_RE.fullmatch(iss):
        raise PaymentCodeIssueError("issuer must be 1-32 characters of A-Z a-z 0-9 _ -")
    cid = code_id if code_id is not None else secrets.token_bytes(CODE_ID_BYTES)
    if len(cid) != CODE_ID_BYTES:
        raise PaymentCodeIssueError(f"code_id must be {CODE_ID_BYTES} bytes")
    iat = int(now)
    payload = {"v": VERSION, "cid": _b64e(cid), "sub": subject_id, "iat": iat,
               "exp": iat + ttl_s, "iss": iss}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    signed = f"{PREFIX}.{_b64e(body)}".encode("ascii")
    return f"{signed.decode('ascii')}.{_b64e(signing_key.sign(signed))}"


def _int_field(payload: dict[str, Any], key: str) -> int:
    value = payload[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**40:
        raise _malformed(f"the code field {key!r} must be a unix time in seconds")
    return value


def parse_code(text: str | bytes) -> PaymentCode:
    """Parse a scanned code's structure; raises :class:`PaymentCodeError` (``code_malformed``)."""
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_CODE_CHARS + 8:
            raise _malformed("the text is too long to be a payment code")
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise _malformed("a payment code is plain ASCII text") from None
    if not isinstance(text, str):
        raise _malformed("a payment code is text")
    text = text.strip(" \t\r\n")
    if len(text) > MAX_CODE_CHARS:
        raise _malformed("the text is too long to be a payment code")
    if not text.isascii():
        raise _malformed("a payment code is plain ASCII text")
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise _malformed("not a ScanPay payment code (expected SP1.<payload>.<signature>)")
    body = _b64d(parts[1], "payload")
    signature = _b64d(parts[2], "signature")
    if len(signature) != SIGNATURE_BYTES:
        raise _malformed("the signature has the wrong length")
    try:
        payload = json.loads(body.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _malformed("the payload is not JSON") from None
    if not isinstance(payload, dict) or set(payload) != _KEYS:
        raise _malformed("the payload must have exactly the fields v, cid, sub, iat, exp, iss")
    if payload["v"] != VERSION or isinstance(payload["v"], bool):
        raise _malformed(f"unsupported payment code version {payload['v']!r}")
    cid, sub, iss = payload["cid"], payload["sub"], payload["iss"]
    if not isinstance(cid, str) or len(cid) != 22:
        raise _malformed("the code id must be 16 bytes of base64url")
    _b64d(cid, "code id")
    if not isinstance(sub, str) or not _SUBJECT_RE.fullmatch(sub):
        raise _malformed("the payer handle is malformed")
    if not isinstance(iss, str) or not _ISSUER_RE.fullmatch(iss):
        raise _malformed("the issuer key id is malformed")
    iat, exp = _int_field(payload, "iat"), _int_field(payload, "exp")
    if not 0 < exp - iat <= MAX_TTL_S:
        raise _malformed(f"the code lifetime must be 1..{MAX_TTL_S} seconds")
    return PaymentCode(code_id=cid, subject_id=sub, issued_at=iat, expires_at=exp, issuer=iss,
                       signed_part=f"{parts[0]}.{parts[1]}".encode("ascii"),
                       signature=signature, text=text)


# --- checks ---------------------------------------------------------------------------------


def check_locally(code: PaymentCode, *, now: float, max_skew_s: float = 5) -> None:
    """Check expiry against the terminal clock, tolerating ``max_skew_s`` of clock difference.

    The code is valid for ``issued_at - max_skew_s <= now < expires_at + max_skew_s``.
    """
    if now < code.issued_at - max_skew_s:
        raise PaymentCodeError(CODE_NOT_YET_VALID,
                               "the payment code is dated in the future; check the terminal clock")
    if now >= code.expires_at + max_skew_s:
        raise PaymentCodeError(CODE_EXPIRED,
                               "the payment code has expired; ask the rider to refresh it")


def verify_signature(code: PaymentCode, public_keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Check the issuer's Ed25519 signature; unknown issuers are ``code_signature_invalid``."""
    key = public_keys.get(code.issuer)
    if key is None:
        raise PaymentCodeError(CODE_SIGNATURE_INVALID,
                               "the payment code was signed by an unknown issuer")
    try:
        key.verify(code.signature, code.signed_part)
    except InvalidSignature:
        raise PaymentCodeError(CODE_SIGNATURE_INVALID,
                               "the payment code's signature does not match") from None


class ReplayGuard:
    """Terminal-side memory of code ids already seen, each kept until its code expires.

    Memory is bounded by ``capacity``; when full, the entry closest to expiry is forgotten
    (the gateway still enforces single use, this only saves a network round trip).
    """

    def __init__(self, capacity: int, clock: Callable[[], float], *,
                 max_skew_s: float = 5) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._clock = clock
        self._skew = max_skew_s
        self._seen: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        self._purge(self._clock())
        return len(self._seen)

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            forget_at, cid = heapq.heappop(self._heap)
            if self._seen.get(cid) == forget_at:
                del self._seen[cid]

    def check_and_remember(self, code: PaymentCode) -> None:
        """Raise ``code_already_used`` if ``code`` was seen before, else remember it."""
        now = self._clock()
        self._purge(now)
        if code.code_id in self._seen:
            raise PaymentCodeError(
                CODE_ALREADY_USED,
                "this payment code was already used; ask the rider to refresh it",
            )
        while len(self._seen) >= self._capacity:
            forget_at, cid = heapq.heappop(self._heap)
            if self._seen.get(cid) == forget_at:
                del self._seen[cid]
                log.warning("replay guard full (%d codes); forgot one early", self._capacity)
        forget_at = code.expires_at + self._skew
        self._seen[code.code_id] = forget_at
        heapq.heappush(self._heap, (forget_at, code.code_id))
