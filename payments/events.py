"""Terminal events (schema 1): an explicit type registry and privacy-checked attributes.

Events never carry biometrics, images, embeddings or phone numbers. :func:`make_event` refuses
attribute keys that name such data and string values that look like a phone number.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from payments.errors import PaymentsError

SCHEMA_VERSION = 1
MAX_ATTRIBUTES = 32
MAX_VALUE_CHARS = 256
# Integers this large are more likely a phone number than a count or an amount.
MAX_INT_ATTRIBUTE = 10**9 - 1

# Every event type a terminal may emit, with what it means.
EVENT_TYPES: Mapping[str, str] = MappingProxyType({
    "ride.started": "A bike was unlocked for a rider.",
    "ride.ended": "The lock closed and the ride is over.",
    "deposit.held": "A deposit hold was placed.",
    "deposit.released": "A deposit hold was released without charge.",
    "deposit.captured": "A deposit hold was captured (charged).",
    "deposit.waived": "No deposit was needed for a ride.",
    "payment.captured": "A fare or order was charged.",
    "payment.declined": "A payment or hold was declined.",
    "payment.refunded": "Money was returned against a charge.",
    "unlock.failed": "The lock did not open after payment.",
    "code.rejected": "A scanned payment code was refused.",
    "liveness.failed": "A face did not pass the liveness check.",
    "face.verified": "Smile to Pay matched an enrolled customer.",
    "face.rejected": "Smile to Pay found no confident match.",
    "face.enrolled": "A customer enrolled for Smile to Pay.",
    "face.deleted": "A customer's face template was deleted.",
    "parking.reported": "A bike was reported parked (or misparked).",
    "order.paid": "A kiosk order was paid.",
    "order.cancelled": "A kiosk order was abandoned or cancelled.",
    "terminal.started": "The terminal software started.",
})

_ID_RE = re.compile(r"evt_[0-9a-f]{32}")
_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_OPAQUE_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
# Key fragments that name personal or biometric data: anywhere in the key ...
_FORBIDDEN_KEY_FRAGMENTS = (
    "phone", "mobile", "msisdn", "email", "face", "embedding", "image", "photo", "picture",
    "selfie", "biometric", "template", "descriptor", "landmark", "fingerprint", "encoding",
    "pixels", "thumbnail",
)
# ... or as a whole snake_case word of it.
_FORBIDDEN_KEY_WORDS = frozenset(
    {"tel", "iris", "img", "pic", "jpeg", "jpg", "png", "b64", "base64"}
)
# Digits, optionally grouped by spaces, hyphens or parentheses, standing alone in the text.
_NUMBER_RUN_RE = re.compile(r"(?<![\w])\+?\(?\d[\d \-()]*\d(?![\w])")
_ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

AttributeValue = str | int | bool


class EventError(PaymentsError):
    """An event is malformed or would carry personal data it must not carry."""


def looks_like_phone_number(text: str) -> bool:
    """True when ``text`` holds a stand-alone run of 7 or more digits (separators allowed)."""
    for match in _NUMBER_RUN_RE.finditer(text):
        token = match.group(0).strip(" -")
        if _ISO_DATE_RE.fullmatch(token):
            continue
        if sum(ch.isdigit() for ch in token) >= 7:
            return True
    return False


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise EventError(f"attribute key {key!r} must be snake_case ASCII, at most 64 characters")
    found = [part for part in _FORBIDDEN_KEY_FRAGMENTS if part in key]
    found += [word for word in key.split("_") if word in _FORBIDDEN_KEY_WORDS]
    if found:
        raise EventError(
            f"attribute key {key!r} names personal or biometric data ({found[0]}); "
            "events must not carry it"
        )
    return key


def _check_value(key: str, value: object) -> AttributeValue:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT_ATTRIBUTE:
            raise EventError(
                f"attribute {key!r}: integer {value} is too large (could be a phone number)"
            )
        return value
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise EventError(f"attribute {key!r}: text longer than {MAX_VALUE_CHARS} characters")
        if not value.isprintable():
            raise EventError(f"attribute {key!r}: text has control characters")
        if looks_like_phone_number(value):
            raise EventError(
                f"attribute {key!r}: text holds a run of 7+ digits that looks like a phone number"
            )
        return value
    raise EventError(
        f"attribute {key!r}: value must be text, an integer or true/false, "
        f"got {type(value).__name__}"
    )


def check_attributes(attributes: Mapping[str, object]) -> dict[str, AttributeValue]:
    """Validate flat, privacy-safe attributes; returns a plain copy."""
    if not isinstance(attributes, Mapping):
        raise EventError("attributes must be a mapping of names to values")
    if len(attributes) > MAX_ATTRIBUTES:
        raise EventError(f"at most {MAX_ATTRIBUTES} attributes per event")
    return {_check_key(k): _check_value(k, v) for k, v in attributes.items()}


def _check_opaque(value: object, what: str) -> str:
    if not isinstance(value, str) or not _OPAQUE_RE.fullmatch(value):
        raise EventError(f"{what} must be 1..64 characters of A-Z a-z 0-9 _ . : -")
    if looks_like_phone_number(value):
        raise EventError(f"{what} looks like a phone number; use an opaque id")
    return value


def format_time(when: datetime) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-11-26T10:30:00.123Z``."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Event:
    """One immutable, privacy-checked terminal event."""

    id: str
    type: str
    time: datetime
    terminal_id: str
    subject_id: str | None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID_RE.fullmatch(self.id):
            raise EventError(f"event id must be evt_ + 32 hex digits, got {self.id!r}")
        if self.schema != SCHEMA_VERSION or isinstance(self.schema, bool):
            raise EventError(f"unsupported event schema {self.schema!r} (this is {SCHEMA_VERSION})")
        if self.type not in EVENT_TYPES:
            raise EventError(f"unknown event type {self.type!r}")
        if not isinstance(self.time, datetime) or self.time.tzinfo is None:
            raise EventError("event time must be a timezone-aware datetime")
        _check_opaque(self.terminal_id, "terminal_id")
        if self.subject_id is not None:
            _check_opaque(self.subject_id, "subject_id")
        object.__setattr__(self, "time", self.time.astimezone(UTC))
        object.__setattr__(self, "attributes", MappingProxyType(check_attributes(self.attributes)))

    def to_dict(self) -> dict[str, Any]:
        """The wire form of docs/api.md."""
        return {
            "id": self.id,
            "schema": self.schema,
            "type": self.type,
            "time": format_time(self.time),
            "terminal_id": self.terminal_id,
            "subject_id": self.subject_id,
            "attributes": dict(self.attributes),
        }

    def to_json(self) -> str:
        """Compact JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: object) -> Event:
        """Parse the wire form; :class:`EventError` on anything malformed."""
        expected = {"id", "schema", "type", "time", "terminal_id", "subject_id", "attributes"}
        if not isinstance(data, dict):
            raise EventError("an event must be a JSON object")
        missing, extra = expected - set(data), set(data) - expected
        if missing or extra:
            raise EventError(
                f"event fields wrong (missing {sorted(missing)}, extra {sorted(extra)})"
            )
        when = data["time"]
        if not isinstance(when, str):
            raise EventError("event time must be an RFC 3339 string")
        try:
            parsed = datetime.fromisoformat(when)
        except ValueError:
            raise EventError(f"event time is not RFC 3339: {when[:40]!r}") from None
        attributes = data["attributes"]
        if not isinstance(attributes, dict):
            raise EventError("event attributes must be an object")
        return cls(
            id=data["id"], type=data["type"], time=parsed, terminal_id=data["terminal_id"],
            subject_id=data["subject_id"], attributes=attributes, schema=data["schema"],
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        """Parse :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventError(f"event is not valid JSON: {exc}") from None
        return cls.from_dict(data)


WallClock = Callable[[], "datetime | float"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def make_event(
    type: str,
    *,
    terminal_id: str,
    subject_id: str | None,
    attributes: Mapping[str, object] | None = None,
    clock: WallClock = _utc_now,
) -> Event:
    """A new event with a fresh id, stamped by ``clock`` (aware datetime or Unix seconds)."""
    now = clock()
    if isinstance(now, int | float) and not isinstance(now, bool):
        now = datetime.fromtimestamp(now, UTC)
    if not isinstance(now, datetime):
        raise EventError("clock must return a datetime or Unix seconds")
    return Event(
        id=f"evt_{uuid.uuid4().hex}",
        type=type,
        time=now,
        terminal_id=terminal_id,
        subject_id=subject_id,
        attributes=dict(attributes or {}),
    )
