"""Payment gateway: Smile to Pay face enrollment (with consent), 1:1 verification and deletion.

Templates are stored only as AES-GCM ciphertext (:mod:`face_vault`), phone numbers only as
keyed hashes of the full number and of its last four digits. Nothing here logs a template, an
embedding, a distance per account or a phone number. See docs/api.md, section "Face".

No oracle: a verification answers only ``matched``, ``no_match``, ``ask_for_digits`` or
``too_many_attempts``, never a distance or a count, and "nobody enrolled with these digits"
looks exactly like "the face is not theirs". Failed probes are throttled per (terminal, digits
asked) and per terminal, with a growing back-off; nothing is locked per account, so a stranger
cannot lock an account holder out anywhere but at the terminal the stranger is standing at,
and only for the back-off.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from backend import retention
from backend.context import (
    Backend,
    BackendDep,
    CallerDep,
    TerminalId,
    parse_rfc3339,
    rfc3339,
)
from backend.errors import ApiError
from backend.face_vault import (
    FaceVault,
    VaultError,
    combine,
    distance,
    normalise_phone,
    parse_embedding,
)
from backend.idempotency import IdempotencyKey, run_idempotent
from backend.keyring import Keyring
from backend.proofs import record_proof
from backend.routes_codes import resolve_code

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceRules:
    """The gateway's own limits; a terminal may ask for a stricter threshold, never a looser."""

    # Distances are between unit-length embeddings (vision.face.distance). On the LFW dev pairs
    # 0.38 accepts none of 900 impostor pairs and 93.9% of genuine ones (docs/face.md).
    default_threshold: float = 0.38
    max_threshold: float = 0.40
    min_enroll_frames: int = 3
    max_enroll_frames: int = 20
    # Failed verifications with the same digits at one terminal before the back-off starts.
    max_failures: int = 5
    # Failed verifications at one terminal (any digits) before that terminal backs off.
    terminal_max_failures: int = 30
    failure_window_s: float = 900.0
    # Back-off after the limit: base * 2 ** (failures over the limit), at most max.
    backoff_base_s: float = 30.0
    backoff_max_s: float = 900.0
    # Matched face payments at a terminal (within the window) that make a digit-free regular.
    regular_min_visits: int = 3
    regular_window_s: float = 90 * 86400.0
    # How far a consent time may lie in the future (terminal clock skew).
    max_consent_skew_s: float = 300.0


RULES = FaceRules()

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS face_enrollments (
    enrollment_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL UNIQUE,
    phone_hash TEXT NOT NULL UNIQUE,
    last4_hash TEXT NOT NULL,
    template BLOB NOT NULL,
    frames INTEGER NOT NULL,
    key_id TEXT NOT NULL DEFAULT 'dev',
    digit_free INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS face_enrollments_last4 ON face_enrollments(last4_hash);
CREATE TABLE IF NOT EXISTS face_consents (
    enrollment_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    given_by TEXT NOT NULL,
    given_at REAL NOT NULL,
    purpose TEXT NOT NULL,
    retention_days INTEGER NOT NULL,
    digit_free INTEGER NOT NULL,
    terminal_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    ended_at REAL,
    end_reason TEXT
);
CREATE TABLE IF NOT EXISTS face_attempts (
    subject_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    at REAL NOT NULL,
    matched INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS face_attempts_subject ON face_attempts(subject_id, at);
CREATE TABLE IF NOT EXISTS face_failures (
    terminal_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS face_failures_terminal ON face_failures(terminal_id, at);
CREATE TABLE IF NOT EXISTS face_consent_texts (
    enrollment_id TEXT PRIMARY KEY,
    text_version TEXT NOT NULL
);
""" + retention.SCHEMA_SQL

Verdict = Literal["matched", "no_match", "ask_for_digits", "too_many_attempts"]

router = APIRouter(tags=["face"])


@cache
def _vault_for(keyring: Keyring) -> FaceVault:
    return FaceVault.from_keys([(k.key_id, k.secret) for k in keyring.face_keys],
                               keyring.phone_pepper)


def vault(backend: Backend) -> FaceVault:
    """The face vault of this back end (its keyring's face keys and phone pepper)."""
    return _vault_for(backend.keyring)


def on_start(backend: Backend) -> None:
    """Give older databases the key-id column; re-encrypt templates under the active key."""
    with backend.store.transaction() as conn:
        columns = {d[0] for d in conn.execute("SELECT * FROM face_enrollments LIMIT 0")
                   .description}
        if "key_id" not in columns:  # templates sealed before key ids: the development key
            conn.execute("ALTER TABLE face_enrollments ADD COLUMN key_id TEXT NOT NULL"
                         " DEFAULT 'dev'")
        v = vault(backend)
        moved = stuck = 0
        for row in conn.execute("SELECT enrollment_id, key_id, template FROM face_enrollments"
                                " WHERE key_id != ?", (v.key_id,)).fetchall():
            try:
                template = v.open(row["template"], row["enrollment_id"], row["key_id"])
            except VaultError:
                stuck += 1
                continue
            conn.execute("UPDATE face_enrollments SET template = ?, key_id = ?"
                         " WHERE enrollment_id = ?",
                         (v.seal(template, row["enrollment_id"]), v.key_id,
                          row["enrollment_id"]))
            moved += 1
    if moved:
        log.info("re-encrypted %d face templates under key %s", moved, v.key_id)
    if stuck:
        log.warning("%d face templates are sealed under keys missing from the keyring", stuck)


class ConsentBody(BaseModel):
    """What the person agreed to."""

    model_config = ConfigDict(extra="forbid")
    given_by: str = Field(min_length=1, max_length=200)
    given_at: str = Field(min_length=1, max_length=40)
    purpose: str = Field(min_length=1, max_length=200)
    retention_days: StrictInt = Field(ge=1, le=3650)
    digit_free: StrictBool = False


class EnrollRequest(BaseModel):
    """Several frames' embeddings of one person, proof of the account and the consent.

    ``payment_code`` is a fresh payment code from the account holder's wallet app (shown to
    the kiosk camera): the account enrolled is the one that signed it, never one the terminal
    names, so nobody can put their face on someone else's account. The code is used up.
    """

    model_config = ConfigDict(extra="forbid")
    payment_code: str = Field(min_length=1, max_length=4096)
    phone: str = Field(min_length=1, max_length=40)
    embeddings: list[Any] = Field(max_length=RULES.max_enroll_frames)
    consent: ConsentBody
    # Version of the notice the person read and signed (e.g. "smile-to-pay-notice/2"),
    # recorded with the release.
    consent_text_version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:/\-]{1,64}$")


class VerifyRequest(BaseModel):
    """A probe embedding and the phone digits the customer typed ("" = none)."""

    model_config = ConfigDict(extra="forbid")
    phone_digits: str = Field(default="", max_length=20)
    probe: list[Any]
    threshold: float | None = None


class CandidatesRequest(BaseModel):
    """The digits typed so far: "" (none) or the last four."""

    model_config = ConfigDict(extra="forbid")
    phone_digits: str = Field(default="", max_length=20)


class DeleteRequest(BaseModel):
    """A fresh payment code of the account whose template is to go (proof it is theirs: a
    phone number alone would let anyone erase, and learn the account of, any number)."""

    model_config = ConfigDict(extra="forbid")
    payment_code: str = Field(min_length=1, max_length=4096)


@router.post("/v1/face/enrollments", status_code=201, summary="Enroll a face with consent")
def post_enrollment(body: EnrollRequest, request: Request, backend: BackendDep,
                    terminal_id: TerminalId, key: IdempotencyKey) -> JSONResponse:
    """``201`` with the enrollment and the consent as recorded; replaces an earlier template."""
    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        return 201, _enroll(conn, backend, body, terminal_id)
    return run_idempotent(request, terminal_id=terminal_id, key=key, body=body.model_dump(),
                          operation=operation)


@router.post("/v1/face/verifications", summary="Match a probe against the accounts the digits name")
def post_verification(body: VerifyRequest, backend: BackendDep,
                      caller: CallerDep) -> dict[str, Any]:
    """``200 {"match", "reason", "threshold", "subject_id", "retry_after_s"}``: never a distance."""
    probe = _embedding(body.probe, "probe")
    threshold = _threshold(body.threshold)
    digits = _digits(body.phone_digits, allow_full=True)
    with backend.store.transaction() as conn:
        return _verify(conn, backend, probe, digits, threshold, caller.terminal_id, caller.role)


@router.post("/v1/face/candidates", summary="Count enrolled accounts the digits would name")
def post_candidates(body: CandidatesRequest, backend: BackendDep,
                    terminal_id: TerminalId) -> dict[str, Any]:
    """``200 {"scope": "regulars" | "last4", "count"}`` (no count is given for a full number)."""
    digits = _digits(body.phone_digits, allow_full=False)
    with backend.store.transaction() as conn:
        _purge_expired(conn, backend.now())
        rows = _candidates(conn, backend, digits, terminal_id)
    return {"scope": "last4" if digits else "regulars", "count": len(rows)}


@router.post("/v1/face/enrollments:delete", summary="Delete a face template (confirmed)")
def post_delete(body: DeleteRequest, request: Request, backend: BackendDep,
                terminal_id: TerminalId, key: IdempotencyKey) -> JSONResponse:
    """``200`` saying what was deleted; ``404 not_enrolled`` when nothing is enrolled."""
    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        return 200, _delete(conn, backend, body.payment_code, terminal_id)
    return run_idempotent(request, terminal_id=terminal_id, key=key, body=body.model_dump(),
                          operation=operation)


# -- operations ---------------------------------------------------------------------------


def _enroll(conn: sqlite3.Connection, backend: Backend, body: EnrollRequest,
            terminal_id: str) -> dict[str, Any]:
    now = backend.now()
    phone = _phone(body.phone)
    if len(body.embeddings) < RULES.min_enroll_frames:
        raise ApiError(400, "too_few_frames",
                       f"enrollment needs at least {RULES.min_enroll_frames} frames' embeddings")
    frames = [_embedding(e, f"embeddings[{i}]") for i, e in enumerate(body.embeddings)]
    given_at = parse_rfc3339(body.consent.given_at)
    if given_at is None:
        raise ApiError(400, "invalid_consent", "consent.given_at must be an RFC 3339 UTC time")
    if given_at > now + RULES.max_consent_skew_s:
        raise ApiError(400, "invalid_consent", "consent.given_at lies in the future")
    template, spread = combine(frames)
    if spread > RULES.default_threshold:
        raise ApiError(422, "enrollment_inconsistent",
                       "the frames do not consistently show one face; capture them again")
    # Proof of the account: the wallet's signed, unexpired, unused code (used up here; any
    # later error rolls that back with the rest of the enrollment).
    subject_id = resolve_code(backend, conn, body.payment_code, terminal_id)["subject_id"]
    v = vault(backend)
    phone_hash = v.phone_hash(phone)
    other = conn.execute("SELECT subject_id FROM face_enrollments WHERE phone_hash = ?",
                         (phone_hash,)).fetchone()
    if other is not None and other["subject_id"] != subject_id:
        raise ApiError(409, "phone_in_use", "this phone number is enrolled for another account")
    previous = conn.execute("SELECT enrollment_id FROM face_enrollments WHERE subject_id = ?",
                            (subject_id,)).fetchone()
    if previous is not None:
        _remove(conn, previous["enrollment_id"], subject_id, now, "replaced")
    enrollment_id = f"enr_{secrets.token_hex(12)}"
    consent = body.consent
    expires_at = now + consent.retention_days * 86400.0
    conn.execute(
        "INSERT INTO face_enrollments(enrollment_id, subject_id, phone_hash, last4_hash,"
        " template, key_id, frames, digit_free, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (enrollment_id, subject_id, phone_hash, v.last4_hash(phone),
         v.seal(template, enrollment_id), v.key_id, len(frames), int(consent.digit_free), now,
         expires_at))
    conn.execute(
        "INSERT INTO face_consents(enrollment_id, subject_id, given_by, given_at, purpose,"
        " retention_days, digit_free, terminal_id, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (enrollment_id, subject_id, consent.given_by.strip(), given_at,
         consent.purpose.strip(), consent.retention_days, int(consent.digit_free), terminal_id,
         now))
    if body.consent_text_version is not None:
        conn.execute("INSERT INTO face_consent_texts(enrollment_id, text_version) VALUES (?, ?)",
                     (enrollment_id, body.consent_text_version))
    return {
        "enrollment_id": enrollment_id,
        "subject_id": subject_id,
        "frames": len(frames),
        "spread": round(spread, 4),
        "replaced": previous is not None,
        "consent": {
            "given_by": consent.given_by.strip(), "given_at": rfc3339(given_at),
            "purpose": consent.purpose.strip(), "retention_days": consent.retention_days,
            "digit_free": consent.digit_free, "terminal_id": terminal_id,
            "recorded_at": rfc3339(now), "expires_at": rfc3339(expires_at),
            "text_version": body.consent_text_version,
        },
    }


def _verify(conn: sqlite3.Connection, backend: Backend, probe: np.ndarray, digits: str,
            threshold: float, terminal_id: str, role: str) -> dict[str, Any]:
    now = backend.now()
    _purge_expired(conn, now)
    v = vault(backend)
    scope = _scope(v, digits)

    def answer(verdict: Verdict, subject_id: str | None = None,
               retry_after_s: int | None = None) -> dict[str, Any]:
        return {"match": verdict == "matched", "reason": verdict, "threshold": threshold,
                "subject_id": subject_id, "retry_after_s": retry_after_s}

    wait = _backoff(conn, terminal_id, scope, now)
    if wait > 0:  # the probe is not compared at all while backing off
        return answer("too_many_attempts", retry_after_s=max(1, int(wait + 0.999)))
    rows = _candidates(conn, backend, digits, terminal_id)
    within = sorted(
        (d, r["subject_id"]) for r in rows
        if (d := distance(probe, v.open(r["template"], r["enrollment_id"], r["key_id"])))
        <= threshold)
    if len(within) == 1:
        subject_id = within[0][1]
        conn.execute("INSERT INTO face_attempts(subject_id, terminal_id, at, matched)"
                     " VALUES (?, ?, ?, 1)", (subject_id, terminal_id, now))
        conn.execute("DELETE FROM face_failures WHERE terminal_id = ? AND scope = ?",
                     (terminal_id, scope))
        record_proof(conn, terminal_id=terminal_id, role=role, subject_id=subject_id,
                     source="face", now=now)
        return answer("matched", subject_id)
    if not digits:  # the regulars' gallery: a stranger is normal here, not a failure
        return answer("ask_for_digits")
    if len(within) > 1:  # several accounts share the last four: the full number decides
        return answer("ask_for_digits")
    # Enrolled or not, a failure counts the same, so the throttle tells nothing either.
    conn.execute("INSERT INTO face_failures(terminal_id, scope, at) VALUES (?, ?, ?)",
                 (terminal_id, scope, now))
    return answer("no_match")


def _scope(v: FaceVault, digits: str) -> str:
    """What a probe was compared against, as throttle key (keyed hashes, never digits)."""
    if not digits:
        return "regulars"
    return "last4:" + v.last4_hash(digits) if len(digits) == 4 else "full:" + v.phone_hash(digits)


def _backoff(conn: sqlite3.Connection, terminal_id: str, scope: str, now: float) -> float:
    """Seconds this terminal must wait before probing ``scope`` again (0: go ahead)."""
    since = now - RULES.failure_window_s
    conn.execute("DELETE FROM face_failures WHERE at <= ?", (since,))
    wait = 0.0
    for where, args, limit in (
        ("terminal_id = ? AND scope = ?", (terminal_id, scope), RULES.max_failures),
        ("terminal_id = ?", (terminal_id,), RULES.terminal_max_failures),
    ):
        count, last = conn.execute(f"SELECT COUNT(*), MAX(at) FROM face_failures WHERE {where}",
                                   args).fetchone()
        if count >= limit:
            delay = min(RULES.backoff_max_s, RULES.backoff_base_s * 2 ** (count - limit))
            wait = max(wait, last + delay - now)
    return wait


def _delete(conn: sqlite3.Connection, backend: Backend, payment_code: str,
            terminal_id: str) -> dict[str, Any]:
    now = backend.now()
    subject_id = resolve_code(backend, conn, payment_code, terminal_id)["subject_id"]
    row = conn.execute("SELECT enrollment_id, subject_id FROM face_enrollments"
                       " WHERE subject_id = ?", (subject_id,)).fetchone()
    if row is None:  # rolls the code's use back with it
        raise ApiError(404, "not_enrolled", "no face is enrolled for this account")
    removed = _remove(conn, row["enrollment_id"], row["subject_id"], now,
                      f"deleted on request at {terminal_id}", tombstone=True)
    day = rfc3339(now)[:10]
    return {"deleted": True, "subject_id": row["subject_id"],
            "enrollment_id": row["enrollment_id"], "templates_deleted": removed,
            "deleted_at": rfc3339(now),
            "confirmation": f"Your face template was deleted on {day}. Only a record of the "
                            "deletion and its date is kept.",
            "tombstone": retention.last_tombstone(conn, row["subject_id"])}


def _remove(conn: sqlite3.Connection, enrollment_id: str, subject_id: str, now: float,
            reason: str, *, tombstone: bool = False) -> int:
    """Delete a template and its visit history; end its consent record (kept as proof);
    leave a tombstone when it is gone for good (not replaced)."""
    return retention.remove_template(conn, enrollment_id, subject_id, now, reason,
                                     tombstone=tombstone)


def _purge_expired(conn: sqlite3.Connection, now: float) -> None:
    for row in conn.execute("SELECT enrollment_id, subject_id FROM face_enrollments"
                            " WHERE expires_at <= ?", (now,)).fetchall():
        _remove(conn, row["enrollment_id"], row["subject_id"], now, "retention period ended",
                tombstone=True)


def _candidates(conn: sqlite3.Connection, backend: Backend, digits: str,
                terminal_id: str) -> list[sqlite3.Row]:
    cols = "SELECT enrollment_id, subject_id, template, key_id FROM face_enrollments"
    v = vault(backend)
    if len(digits) == 4:
        return conn.execute(f"{cols} WHERE last4_hash = ?", (v.last4_hash(digits),)).fetchall()
    if digits:
        return conn.execute(f"{cols} WHERE phone_hash = ?", (v.phone_hash(digits),)).fetchall()
    since = backend.now() - RULES.regular_window_s
    return conn.execute(
        f"{cols} e WHERE digit_free = 1 AND (SELECT COUNT(*) FROM face_attempts a"
        " WHERE a.subject_id = e.subject_id AND a.terminal_id = ? AND a.matched = 1"
        " AND a.at >= ?) >= ?",
        (terminal_id, since, RULES.regular_min_visits),
    ).fetchall()


# -- validation -----------------------------------------------------------------------------


def _embedding(value: Any, what: str) -> np.ndarray:
    try:
        return parse_embedding(value)
    except ValueError as exc:
        raise ApiError(400, "invalid_embedding", f"{what}: {exc}") from None


def _phone(text: str) -> str:
    try:
        return normalise_phone(text)
    except ValueError as exc:
        raise ApiError(400, "invalid_phone", str(exc)) from None


def _digits(text: str, *, allow_full: bool) -> str:
    if text == "":
        return ""
    if not text.isascii() or not text.isdigit():
        raise ApiError(400, "invalid_phone", "phone_digits must be digits only")
    if len(text) == 4:
        return text
    if not allow_full:
        raise ApiError(400, "invalid_phone", "send no digits or the last four digits")
    return _phone(text)


def _threshold(value: float | None) -> float:
    if value is None:
        return RULES.default_threshold
    if not 0.0 < value <= RULES.max_threshold:
        raise ApiError(400, "invalid_threshold",
                       f"threshold must be in (0, {RULES.max_threshold}] (the gateway's limit)")
    return float(value)
