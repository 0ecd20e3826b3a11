"""Validation of uploaded events (schema 1): one reason per rejected event, privacy enforced."""

from __future__ import annotations

import functools
import re
from typing import Any

from backend.context import parse_rfc3339
from payments.events import (
    EventError,
    check_attributes,
    id_looks_like_phone_number,
    refuse_split_phone_number,
)

MAX_ATTRIBUTES = 32
MAX_STRING = 256
_ID_RE = re.compile(r"evt_[0-9a-f]{32}")
_TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TERMINAL_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_KEYS = frozenset({"id", "schema", "type", "time", "terminal_id", "subject_id", "attributes",
                   "prev_hash"})
_HASH_RE = re.compile(r"[0-9a-f]{64}")
# Attribute names that suggest biometrics, images or contact details: never accepted
# (the same words payments.events refuses on the terminal).
_FORBIDDEN_PARTS = ("phone", "mobile", "msisdn", "email", "face", "embedding", "image", "photo",
                    "picture", "selfie", "biometric", "template", "descriptor", "landmark",
                    "fingerprint", "encoding", "pixels", "thumbnail")
# Forbidden as whole words of a snake_case name (too short to match inside other words).
_FORBIDDEN_WORDS = frozenset({"tel", "iris", "img", "pic", "jpeg", "jpg", "png", "b64", "base64"})


def check_event(event: Any, terminal_id: str) -> str | None:
    """Why ``event`` is rejected (``"reason: detail"``), or None when it is acceptable."""
    if not isinstance(event, dict):
        return "malformed: an event must be an object"
    extra = set(event) - _KEYS
    if extra:
        return f"malformed: unknown fields {sorted(extra)}"
    missing = {"id", "schema", "type", "time", "terminal_id"} - set(event)
    if missing:
        return f"malformed: missing fields {sorted(missing)}"
    if not isinstance(event["id"], str) or not _ID_RE.fullmatch(event["id"]):
        return "malformed: id must be 'evt_' followed by 32 lowercase hex digits"
    if event["schema"] != 1 or isinstance(event["schema"], bool):
        return f"unsupported_schema: schema must be 1, got {event['schema']!r}"
    if not isinstance(event["type"], str) or not _TYPE_RE.fullmatch(event["type"]) \
            or len(event["type"]) > 64:
        return "malformed: type must look like 'ride.started'"
    if parse_rfc3339(event["time"]) is None:
        return "malformed: time must be RFC 3339 UTC like 2026-11-26T10:30:00Z"
    if not isinstance(event["terminal_id"], str) or not _TERMINAL_RE.fullmatch(
            event["terminal_id"]):
        return "malformed: terminal_id must be 1-64 characters of A-Z a-z 0-9 _ . : -"
    prev = event.get("prev_hash")
    if prev is not None and (not isinstance(prev, str) or not _HASH_RE.fullmatch(prev)):
        return "malformed: prev_hash must be 64 lowercase hex digits or null"
    if event["terminal_id"] != terminal_id:
        return f"terminal_mismatch: this API key belongs to terminal {terminal_id!r}"
    subject = event.get("subject_id")
    if subject is not None and (not isinstance(subject, str)
                                or not _TERMINAL_RE.fullmatch(subject)):
        return "malformed: subject_id must be an opaque id or null"
    if subject is not None and id_looks_like_phone_number(subject):
        return "forbidden_attribute: subject_id looks like a phone number"
    return _check_attributes(event.get("attributes", {}))


@functools.lru_cache(maxsize=4096)
def _name_problem(name: str) -> str | None:
    """Why an attribute name is refused, or None (names repeat: the verdict is kept)."""
    if not _NAME_RE.fullmatch(name):
        return f"malformed: attribute name {name!r} must be snake_case"
    if any(part in name for part in _FORBIDDEN_PARTS) or \
            _FORBIDDEN_WORDS.intersection(name.split("_")):
        return (f"forbidden_attribute: {name!r} may hold biometrics, images or contact "
                "details, which events never carry")
    return None


def _check_attributes(attributes: Any) -> str | None:
    if not isinstance(attributes, dict):
        return "malformed: attributes must be an object"
    if len(attributes) > MAX_ATTRIBUTES:
        return f"malformed: at most {MAX_ATTRIBUTES} attributes"
    try:  # a phone number split over the values, nested ones too: the terminal's reason
        refuse_split_phone_number(attributes)
    except EventError as exc:
        return f"{exc.reason}: {exc}"
    for name, value in attributes.items():
        problem = _name_problem(name)
        if problem is not None:
            return problem
        if not isinstance(value, str | int | bool) or isinstance(value, float):
            return f"malformed: attribute {name!r} must be a string, integer or boolean"
        if isinstance(value, str) and len(value) > MAX_STRING:
            return (f"forbidden_attribute: {name!r} is longer than {MAX_STRING} characters "
                    "(events never carry images or embeddings)")
        if isinstance(value, str) and not value.isprintable():
            return f"malformed: attribute {name!r} has control characters"
    try:  # the terminal's own privacy rule (phone numbers however written, split or not)
        check_attributes(attributes, split_checked=True)
    except EventError as exc:
        return f"{exc.reason}: {exc}"
    return None
