"""The person's side: their report, their disputes, and the operator's review of disputes.

- ``POST /v1/person/sessions``: a fresh wallet payment code (the proof; no API key) buys a
  15-minute report token.
- ``POST /v1/person/report-links``: a terminal that served the person gets a token for the QR
  on its decision screen.
- ``GET /v1/person/report``, ``POST``/``GET /v1/person/disputes``: with the person's token
  (``Authorization: Bearer <token>``); the request guard leaves these to the token.
- ``GET /v1/disputes``, ``GET /v1/disputes/{id}``, ``POST /v1/disputes/{id}/decision``,
  ``GET /v1/disputes/{id}/audit``: operators.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from backend import audit, disputes, person_tokens, restrictions, score_reads
from backend.context import Backend, BackendDep, CallerDep, rfc3339
from backend.errors import ApiError
from backend.idempotency import IdempotencyKey, run_idempotent
from backend.person_report import person_report
from backend.provenance import served
from backend.routes_codes import use_code

SCHEMA_SQL = (restrictions.SCHEMA_SQL + audit.SCHEMA_SQL + disputes.SCHEMA_SQL
              + person_tokens.SCHEMA_SQL + score_reads.SCHEMA_SQL)

# Who used a payment code spent on opening a person's session (used_codes.terminal_id).
SESSION_CODE_USER = "person-session"

router = APIRouter(tags=["person"])
DisputeId = Annotated[str, Path(max_length=64, pattern=r"^dsp_[0-9a-f]{24}$")]


class SessionRequest(BaseModel):
    """A fresh payment code from the person's wallet app."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=4096)


class LinkRequest(BaseModel):
    """The person the terminal just served."""

    model_config = ConfigDict(extra="forbid")
    subject_id: str = Field(min_length=1, max_length=128)


class DisputeItem(BaseModel):
    """What is disputed: one of the person's events or restrictions."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["event", "restriction"]
    id: str = Field(min_length=1, max_length=128)


class DisputeRequest(BaseModel):
    """A dispute in the person's own words."""

    model_config = ConfigDict(extra="forbid")
    item: DisputeItem
    reason: str = Field(min_length=1, max_length=disputes.MAX_REASON)


class DecisionRequest(BaseModel):
    """The operator's decision on a dispute."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["upheld", "corrected"]
    note: str = Field(default="", max_length=disputes.MAX_NOTE)


def _token_json(token: person_tokens.PersonToken, *, with_subject: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"token": token.token, "expires_at": rfc3339(token.expires_at)}
    if with_subject:
        body["subject_id"] = token.subject_id
    return body


def _person(backend: Backend, conn: sqlite3.Connection, request: Request) -> str:
    return person_tokens.subject_of(conn, request.headers.get("authorization", ""),
                                    backend.now())


@router.post("/v1/person/sessions", status_code=201,
             summary="Trade a fresh wallet payment code for a report token (no API key)")
def post_session(body: SessionRequest, backend: BackendDep) -> dict[str, Any]:
    """``201 {"token", "subject_id", "expires_at"}``; the code is checked exactly as
    ``POST /v1/payment-codes/resolve`` checks it (signature, expiry, single use) and used up."""
    with backend.store.transaction() as conn:
        code = use_code(backend, conn, body.code, SESSION_CODE_USER)
        token = person_tokens.issue(conn, code.subject_id, via="payment_code",
                                    issued_by=SESSION_CODE_USER, now=backend.now(),
                                    ttl_s=backend.settings.person_token_ttl_s)
    return _token_json(token, with_subject=True)


@router.post("/v1/person/report-links", status_code=201,
             summary="A report token for the QR on a terminal's decision screen")
def post_report_link(body: LinkRequest, backend: BackendDep,
                     caller: CallerDep) -> dict[str, Any]:
    """``201 {"token", "expires_at"}``; only for a person this terminal served
    (``403 not_served`` otherwise, also for an unknown subject)."""
    with backend.store.transaction() as conn:
        if not served(conn, caller.terminal_id, body.subject_id):
            raise ApiError(403, "not_served",
                           "this terminal has not served this person; it cannot link a report")
        token = person_tokens.issue(conn, body.subject_id, via="report_link",
                                    issued_by=caller.terminal_id, now=backend.now(),
                                    ttl_s=backend.settings.person_token_ttl_s)
    return _token_json(token, with_subject=False)


@router.get("/v1/person/report", summary="The person's report (report token)")
def get_report(request: Request, backend: BackendDep) -> dict[str, Any]:
    """Score, range, baseline, date and source; factors with their events; every scored event;
    restrictions with origin; the data terminals hold; score reads of 90 days; disputes."""
    score_reads.flush(backend, wait=True)
    with backend.store.transaction() as conn:
        subject_id = _person(backend, conn, request)
        return person_report(backend, subject_id, conn=conn)


@router.post("/v1/person/disputes", status_code=201,
             summary="Dispute one of your events or restrictions (report token)")
def post_dispute(body: DisputeRequest, request: Request, backend: BackendDep) -> dict[str, Any]:
    """``201`` Dispute; the item stops counting against the person while under review."""
    with backend.store.transaction() as conn:
        subject_id = _person(backend, conn, request)
        return disputes.open_dispute(backend, subject_id, body.item.model_dump(), body.reason,
                                     conn=conn)


@router.get("/v1/person/disputes", summary="Your disputes and their steps (report token)")
def get_person_disputes(request: Request, backend: BackendDep) -> dict[str, Any]:
    """``200 {"disputes": [Dispute, ...]}``, oldest first."""
    with backend.store.transaction() as conn:
        subject_id = _person(backend, conn, request)
        return {"disputes": disputes.list_disputes(backend, subject_id=subject_id, conn=conn)}


@router.get("/v1/disputes", summary="Disputes to review (operator)")
def get_disputes(backend: BackendDep, _caller: CallerDep,
                 status: Annotated[Literal["under_review", "upheld", "corrected"] | None,
                                   Query()] = None) -> dict[str, Any]:
    """``200 {"disputes": [Dispute, ...]}``, oldest first (at most 500)."""
    return {"disputes": disputes.list_disputes(backend, status=status)}


@router.get("/v1/disputes/{dispute_id}", summary="One dispute (operator)")
def get_one_dispute(dispute_id: DisputeId, backend: BackendDep,
                    _caller: CallerDep) -> dict[str, Any]:
    """``200`` Dispute; ``404 unknown_dispute``."""
    return disputes.get_dispute(backend, dispute_id)


@router.post("/v1/disputes/{dispute_id}/decision", summary="Uphold or correct (operator)")
def post_decision(dispute_id: DisputeId, body: DecisionRequest, request: Request,
                  backend: BackendDep, caller: CallerDep, key: IdempotencyKey) -> JSONResponse:
    """``200`` Dispute as decided; the score is recomputed and every step audited."""
    return run_idempotent(
        request, terminal_id=caller.terminal_id, key=key, body=body.model_dump(),
        operation=lambda conn: (200, disputes.decide_dispute(
            backend, dispute_id, body.outcome, body.note, actor=f"operator:{caller.terminal_id}",
            conn=conn)))


@router.get("/v1/disputes/{dispute_id}/audit", summary="A dispute's audit trail (operator)")
def get_audit(dispute_id: DisputeId, backend: BackendDep, _caller: CallerDep) -> dict[str, Any]:
    """``200 {"dispute_id", "rows": [...], "verification": {"ok", ...}}``."""
    return disputes.audit_trail(backend, dispute_id)
