"""Client of the gateway's face routes: consented enrollment, 1:1 verification, deletion.

The terminal sends embeddings (never images) and the phone digits the customer typed; the back
end keeps the encrypted templates and does the match. Phone numbers and embeddings never reach
the log: they appear only in request bodies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from payments.clients.errors import BadArgument
from payments.clients.gateway import new_idempotency_key
from payments.clients.http import ServiceClient
from payments.clients.parse import Fields

EMBEDDING_SIZE = 128
Scope = Literal["regulars", "last4", "full"]
# The gateway never says why beyond this: no distance, no count, and "nobody enrolled with
# these digits" is "no_match" too. "ask_for_digits": more digits may find the account.
MatchReason = Literal["matched", "no_match", "ask_for_digits", "too_many_attempts"]
_REASONS: frozenset[str] = frozenset(
    {"matched", "no_match", "ask_for_digits", "too_many_attempts"}
)


_TEXT_VERSION_RE = re.compile(r"[A-Za-z0-9_.:/\-]{1,64}")


@dataclass(frozen=True)
class Consent:
    """What the person agreed to when enrolling, recorded with the template."""

    given_by: str  # the person's name as they confirmed it
    purpose: str  # e.g. "smile_to_pay"
    retention_days: int
    given_at: datetime
    # Allow paying without typing digits at terminals where the person is a regular.
    digit_free: bool = False
    # Version of the notice the person read (recorded with the release; None: not stated).
    text_version: str | None = None

    def __post_init__(self) -> None:
        if not self.given_by.strip() or not self.purpose.strip():
            raise BadArgument("consent needs who gave it and the purpose")
        if self.text_version is not None and not _TEXT_VERSION_RE.fullmatch(self.text_version):
            raise BadArgument("a consent text version is 1-64 of A-Z a-z 0-9 _ . : / -")
        if isinstance(self.retention_days, bool) or not 1 <= self.retention_days <= 3650:
            raise BadArgument("consent retention must be 1..3650 days")
        if self.given_at.tzinfo is None:
            raise BadArgument("consent time must carry a time zone")

    def to_json(self) -> dict[str, object]:
        """The wire form."""
        return {
            "given_by": self.given_by.strip(),
            "purpose": self.purpose.strip(),
            "retention_days": self.retention_days,
            "given_at": self.given_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "digit_free": self.digit_free,
        }


@dataclass(frozen=True)
class Enrollment:
    """A stored template: which account, how many frames, and the consent as recorded."""

    enrollment_id: str
    subject_id: str
    frames: int
    spread: float  # largest distance of one enrollment frame from the template
    terminal_id: str
    expires_at: datetime | None


@dataclass(frozen=True)
class FaceMatch:
    """The back end's verdict on a probe: match or not and why (never a distance)."""

    match: bool
    reason: MatchReason
    threshold: float
    subject_id: str | None = None
    # With "too_many_attempts": seconds until this terminal may probe these digits again.
    retry_after_s: int | None = None


@dataclass(frozen=True)
class Deletion:
    """What a deletion removed."""

    subject_id: str
    enrollment_id: str
    templates_deleted: int
    deleted_at: datetime | None


@dataclass(frozen=True)
class CandidateCount:
    """How many enrolled accounts a probe with these digits would be compared against."""

    scope: Scope
    count: int


class FaceClient(ServiceClient):
    """Enroll, verify and delete face templates on the gateway."""

    SERVICE = "payment gateway"

    def enroll(
        self,
        *,
        payment_code: str,
        phone: str,
        embeddings: Sequence[Sequence[float]],
        consent: Consent,
        idempotency_key: str | None = None,
    ) -> Enrollment:
        """Store the template (replacing an earlier one) with its consent, for the account
        proved by ``payment_code``: a fresh code from the account holder's wallet app, which
        the gateway checks and uses up. The enrollment names the account it went to."""
        if not isinstance(payment_code, str) or not payment_code.strip():
            raise BadArgument("enrollment needs the account holder's payment code")
        body = {
            "payment_code": payment_code.strip(),
            "phone": normalise_phone(phone),
            "embeddings": [_vector(e) for e in embeddings],
            "consent": consent.to_json(),
        }
        if consent.text_version is not None:
            body["consent_text_version"] = consent.text_version
        if not body["embeddings"]:
            raise BadArgument("enrollment needs at least one embedding")
        key = idempotency_key or new_idempotency_key()
        r = self._http.request("POST", "/v1/face/enrollments", json_body=body,
                               idempotency_key=key)
        f = Fields(r.body, what="enrollment", request_id=r.request_id)
        consent_f = Fields(f.raw("consent"), what="enrollment consent", request_id=r.request_id)
        return Enrollment(
            enrollment_id=f.text("enrollment_id"),
            subject_id=f.text("subject_id"),
            frames=f.integer("frames"),
            spread=_number(f, "spread"),
            terminal_id=consent_f.text("terminal_id"),
            expires_at=consent_f.time("expires_at", optional=True),
        )

    def verify(
        self, *, phone_digits: str, probe: Sequence[float], threshold: float | None = None
    ) -> FaceMatch:
        """Match ``probe`` against the accounts the digits name ("" = this terminal's regulars).

        Not retried: every failed attempt counts towards this terminal's back-off.
        """
        body: dict[str, object] = {"phone_digits": _digits(phone_digits), "probe": _vector(probe)}
        if threshold is not None:
            body["threshold"] = float(threshold)
        r = self._http.request("POST", "/v1/face/verifications", json_body=body, idempotent=False)
        f = Fields(r.body, what="face verification", request_id=r.request_id)
        reason = f.text("reason")
        if reason not in _REASONS:
            raise f.error("reason", f"unknown value {reason[:30]!r}")
        match = f.raw("match")
        if not isinstance(match, bool) or match != (reason == "matched"):
            raise f.error("match", "must be a boolean agreeing with the reason")
        retry = f.raw("retry_after_s")
        return FaceMatch(
            match=match,
            reason=reason,  # type: ignore[arg-type]
            threshold=_number(f, "threshold"),
            subject_id=f.text("subject_id") if match else None,
            retry_after_s=f.integer("retry_after_s") if retry is not None else None,
        )

    def candidates(self, *, phone_digits: str) -> CandidateCount:
        """How many enrolled accounts share these digits ("" = regulars of this terminal)."""
        r = self._http.request("POST", "/v1/face/candidates",
                               json_body={"phone_digits": _digits(phone_digits)}, idempotent=True)
        f = Fields(r.body, what="face candidates", request_id=r.request_id)
        scope = f.text("scope")
        if scope not in ("regulars", "last4", "full"):
            raise f.error("scope", f"unknown value {scope[:30]!r}")
        count = f.integer("count")
        if count < 0:
            raise f.error("count", "must be >= 0")
        return CandidateCount(scope, count)

    def delete(self, *, payment_code: str, idempotency_key: str | None = None) -> Deletion:
        """Delete the template of the account proved by ``payment_code`` (a fresh code from
        the holder's wallet app, used up); NotFoundError when none is enrolled."""
        if not isinstance(payment_code, str) or not payment_code.strip():
            raise BadArgument("deletion needs the account holder's payment code")
        key = idempotency_key or new_idempotency_key()
        r = self._http.request("POST", "/v1/face/enrollments:delete",
                               json_body={"payment_code": payment_code.strip()},
                               idempotency_key=key)
        f = Fields(r.body, what="face deletion", request_id=r.request_id)
        return Deletion(
            subject_id=f.text("subject_id"),
            enrollment_id=f.text("enrollment_id"),
            templates_deleted=f.integer("templates_deleted"),
            deleted_at=f.time("deleted_at", optional=True),
        )


def _vector(values: Sequence[float]) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise BadArgument("an embedding must be a sequence of numbers") from None
    if len(out) != EMBEDDING_SIZE or not all(math.isfinite(v) for v in out):
        raise BadArgument(f"an embedding must hold {EMBEDDING_SIZE} finite numbers")
    return out


def _digits(text: str) -> str:
    digits = text.strip()
    if digits and (not digits.isascii() or not digits.isdigit()):
        raise BadArgument("phone digits must be digits only")
    if len(digits) not in (0, 4) and not 7 <= len(digits) <= 15:
        raise BadArgument("send no digits, the last four, or the full number (7-15 digits)")
    return digits


def normalise_phone(text: str) -> str:
    """The digits of a full phone number (spaces, dashes, a leading + allowed); BadArgument."""
    digits = text.strip().lstrip("+").replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise BadArgument("a phone number has 7 to 15 digits")
    return digits


def _number(f: Fields, field: str) -> float:
    value = f.raw(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise f.error(field, "must be a finite number")
    return float(value)
