"""Terminal events (schema 1): an explicit type registry and privacy-checked attributes.

Events never carry biometrics, images, embeddings or phone numbers. :func:`make_event` refuses
attribute keys that name such data, and values that look like a phone number (read by
:mod:`payments.phone_numbers`). The rules:

- **Ids** (``terminal_id``, ``subject_id`` and attributes named ``id`` or ``*_id``) are opaque
  identifiers: ``rider-5551234`` or a UUID may hold long digit runs. An id is refused only when
  it *is* a phone number (nothing but 7-15 digits, separators and a ``+``; letter O read as 0)
  or names a contact channel next to one (``tel:13800138000``).
- **Free text** (every other string) may not hold a stand-alone run of 7+ digits, however it is
  written: any separators (``138.0013.8000``, ``138/0013/8000``, dashes, spaces of any kind),
  letter O for zero, full-width or other Unicode digits, a hex number whose value has 7-15
  digits, or 7+ digits between several free-text attributes of one event. Integers of 7+
  digits are refused unless the key names a unit of measure (``*_minor``, ``*_s``, ``*_ms``...).
- **Split numbers**: a mainland-China mobile number whose digit groups are spread over the
  values in document order, integers and text alike (``{"a": 138, "b": 13800, "c": 1380}``).
- **Measures** pass: quantities under unit keys, coordinates under ``lat``/``lon`` keys (at
  most 7 decimals), Unix timestamps of 2020-2040 under ``*_at`` keys, ISO dates and times.

A refusal on privacy grounds has ``reason`` ``forbidden_attribute``, the code the back end
answers for the same event.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from payments.errors import PaymentsError
from payments.phone_numbers import (
    PHONE_MAX_DIGITS,
    PHONE_MIN_DIGITS,
    UNIT_SUFFIXES,
    id_looks_like_phone_number,
    is_coordinate,
    is_id_key,
    is_id_value,
    is_measure,
    is_timestamp,
    looks_like_phone_number,
    phone_digits,
    split_mobile_number,
)

__all__ = [
    "EVENT_TYPES", "PHONE_MAX_DIGITS", "PHONE_MIN_DIGITS", "Event", "EventError",
    "check_attributes", "derived_event_id", "format_time", "id_looks_like_phone_number",
    "is_id_key", "looks_like_phone_number", "make_event", "phone_digits",
    "refuse_split_phone_number",
]

SCHEMA_VERSION = 1
MAX_ATTRIBUTES = 32
MAX_VALUE_CHARS = 256
# Integers this large are more likely a phone number than a count or an amount ...
MAX_INT_ATTRIBUTE = 10**9 - 1
# ... and, for a key that names no unit of measure, an integer of 7+ digits is.
MAX_PLAIN_INT_ATTRIBUTE = 10**6 - 1
# Keys ending like this measure something (money in minor units, seconds, bytes, ...): their
# integers may have up to nine digits.
_UNIT_SUFFIXES = UNIT_SUFFIXES
# The reason code of a refusal on privacy grounds (the back end answers the same).
FORBIDDEN = "forbidden_attribute"

# Every event type a terminal may emit, with what it means.
EVENT_TYPES: Mapping[str, str] = MappingProxyType({
    "ride.started": "A bike was unlocked for a rider.",
    "ride.ended": "The lock closed and the ride is over.",
    "deposit.held": "A deposit hold was placed.",
    "deposit.released": "A deposit hold was released without charge.",
    "deposit.captured": "A deposit hold was captured (charged).",
    "deposit.waived": "No deposit was needed for a ride.",
    "deposit.declined": "The deposit decision declined a ride (a restriction or a low score).",
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
_HASH_RE = re.compile(r"[0-9a-f]{64}")
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
AttributeValue = str | int | bool


class EventError(PaymentsError):
    """An event is malformed or would carry personal data it must not carry.

    ``reason`` is ``forbidden_attribute`` for personal data (the back end's code for the same
    event), ``malformed`` otherwise.
    """

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise EventError(f"attribute key {key!r} must be snake_case ASCII, at most 64 characters")
    problem = _key_problem(key)
    if problem is not None:
        raise EventError(*problem)
    return key


@functools.lru_cache(maxsize=4096)
def _key_problem(key: str) -> tuple[str, str] | None:
    """(message, reason) refusing an attribute key, or None (keys repeat: kept)."""
    if not _KEY_RE.fullmatch(key):
        return (f"attribute key {key!r} must be snake_case ASCII, at most 64 characters",
                "malformed")
    found = [part for part in _FORBIDDEN_KEY_FRAGMENTS if part in key]
    found += [word for word in key.split("_") if word in _FORBIDDEN_KEY_WORDS]
    if found:
        return (f"attribute key {key!r} names personal or biometric data ({found[0]}); "
                "events must not carry it", FORBIDDEN)
    return None


def _check_value(key: str, value: object) -> AttributeValue:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if is_coordinate(key, value) or is_timestamp(key, value):
            return value
        unit = key.endswith(_UNIT_SUFFIXES)
        limit = MAX_INT_ATTRIBUTE if unit else MAX_PLAIN_INT_ATTRIBUTE
        if abs(value) > limit:
            raise EventError(
                f"attribute {key!r}: an integer of {len(str(abs(value)))} digits is too large "
                "(could be a phone number)", FORBIDDEN
            )
        return value
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise EventError(f"attribute {key!r}: text longer than {MAX_VALUE_CHARS} characters")
        if not value.isprintable():
            raise EventError(f"attribute {key!r}: text has control characters")
        if is_id_value(key, value):
            if id_looks_like_phone_number(value):
                raise EventError(
                    f"attribute {key!r}: the id is a phone number; use an opaque id", FORBIDDEN
                )
            return value
        if is_coordinate(key, value):
            return value
        if looks_like_phone_number(value):
            raise EventError(
                f"attribute {key!r}: text holds a run of 7+ digits that looks like a phone number",
                FORBIDDEN,
            )
        return value
    raise EventError(
        f"attribute {key!r}: value must be text, an integer or true/false, "
        f"got {type(value).__name__}"
    )


def _free_text_digits(attributes: Mapping[str, AttributeValue]) -> int:
    """Digits in stand-alone numbers across the free-text attributes (not ids or measures)."""
    return sum(
        phone_digits(value) for key, value in attributes.items()
        if isinstance(value, str) and not is_id_value(key, value)
        and not is_measure(key, value)
    )


def refuse_split_phone_number(attributes: Mapping[str, object]) -> None:
    """:class:`EventError` (``forbidden_attribute``) when a mobile number is split over the
    values of ``attributes`` (nested lists and objects included; see
    :func:`payments.phone_numbers.split_mobile_number`)."""
    split = split_mobile_number(attributes)
    if split is not None:
        raise EventError(
            f"attributes {', '.join(split)} hold a mobile phone number split across them",
            FORBIDDEN,
        )


def check_attributes(attributes: Mapping[str, object], *,
                     split_checked: bool = False) -> dict[str, AttributeValue]:
    """Validate flat, privacy-safe attributes; returns a plain copy. ``split_checked``: the
    caller already ran :func:`refuse_split_phone_number` on them (the back end does, first)."""
    if not isinstance(attributes, Mapping):
        raise EventError("attributes must be a mapping of names to values")
    if len(attributes) > MAX_ATTRIBUTES:
        raise EventError(f"at most {MAX_ATTRIBUTES} attributes per event")
    for key in attributes:
        _check_key(key)
    if not split_checked:
        refuse_split_phone_number(attributes)  # before the types: nested values too
    checked = {key: _check_value(key, value) for key, value in attributes.items()}
    if _free_text_digits(checked) >= PHONE_MIN_DIGITS:
        raise EventError(
            "free-text attributes hold 7+ digits between them: a phone number may be split "
            "across them", FORBIDDEN
        )
    return checked


def _check_opaque(value: object, what: str) -> str:
    if not isinstance(value, str) or not _OPAQUE_RE.fullmatch(value):
        raise EventError(f"{what} must be 1..64 characters of A-Z a-z 0-9 _ . : -")
    if id_looks_like_phone_number(value):
        raise EventError(f"{what} looks like a phone number; use an opaque id", FORBIDDEN)
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
    # Chain hash of this terminal's previous event (payments.event_chain); None: not chained.
    # Transport bookkeeping, not content: two events differing only here are equal.
    prev_hash: str | None = field(default=None, compare=False)

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
        if self.prev_hash is not None and (
            not isinstance(self.prev_hash, str) or not _HASH_RE.fullmatch(self.prev_hash)
        ):
            raise EventError("prev_hash must be 64 lowercase hex digits or absent")
        object.__setattr__(self, "time", self.time.astimezone(UTC))
        object.__setattr__(self, "attributes", MappingProxyType(check_attributes(self.attributes)))

    def to_dict(self) -> dict[str, Any]:
        """The wire form of docs/api.md (``prev_hash`` only on a chained event)."""
        data: dict[str, Any] = {
            "id": self.id,
            "schema": self.schema,
            "type": self.type,
            "time": format_time(self.time),
            "terminal_id": self.terminal_id,
            "subject_id": self.subject_id,
            "attributes": dict(self.attributes),
        }
        if self.prev_hash is not None:
            data["prev_hash"] = self.prev_hash
        return data

    def to_json(self) -> str:
        """Compact JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: object) -> Event:
        """Parse the wire form; :class:`EventError` on anything malformed."""
        expected = {"id", "schema", "type", "time", "terminal_id", "subject_id", "attributes"}
        if not isinstance(data, dict):
            raise EventError("an event must be a JSON object")
        missing, extra = expected - set(data), set(data) - expected - {"prev_hash"}
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
            prev_hash=data.get("prev_hash"),
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


def derived_event_id(*parts: str) -> str:
    """A deterministic event id for what ``parts`` name (e.g. terminal, ride id, event kind).

    An event re-emitted after a crash with the same parts has the same id, so the outbox and
    the back end, both idempotent by id, keep it once.
    """
    if not parts or not all(isinstance(p, str) and p for p in parts):
        raise EventError("a derived event id needs one or more non-empty text parts")
    digest = hashlib.sha256("\x1f".join(("scanpay-event", *parts)).encode("utf-8")).hexdigest()
    return f"evt_{digest[:32]}"


def make_event(
    type: str,
    *,
    terminal_id: str,
    subject_id: str | None,
    attributes: Mapping[str, object] | None = None,
    clock: WallClock = _utc_now,
    event_id: str | None = None,
) -> Event:
    """A new event stamped by ``clock`` (aware datetime or Unix seconds).

    Its id is fresh unless ``event_id`` is given (see :func:`derived_event_id`).
    """
    now = clock()
    if isinstance(now, int | float) and not isinstance(now, bool):
        now = datetime.fromtimestamp(now, UTC)
    if not isinstance(now, datetime):
        raise EventError("clock must return a datetime or Unix seconds")
    return Event(
        id=event_id if event_id is not None else f"evt_{uuid.uuid4().hex}",
        type=type,
        time=now,
        terminal_id=terminal_id,
        subject_id=subject_id,
        attributes=dict(attributes or {}),
    )
