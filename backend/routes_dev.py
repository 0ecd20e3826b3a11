"""Emulator-only routes: the seeded subjects and a stand-in for the rider's wallet app."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from backend.context import (
    MAX_AMOUNT_MINOR,
    BackendDep,
    TerminalId,
    subject_exists,
)
from backend.errors import ApiError
from backend.ledger import wallet_available
from backend.routes_scores import compute_score
from backend.seed import DEMO_CURRENCY, add_subject
from payments.paycode import MAX_TTL_S, issue_code

DEV_ONLY = True

router = APIRouter(tags=["emulator only"])


class CodeRequest(BaseModel):
    """Ask the 'wallet app' for a payment code."""

    model_config = ConfigDict(extra="forbid")
    subject_id: str = Field(min_length=1, max_length=64)
    ttl_s: StrictInt = Field(default=60, ge=1, le=MAX_TTL_S)


class SubjectRequest(BaseModel):
    """Create a payer with a base score and a funded wallet."""

    model_config = ConfigDict(extra="forbid")
    subject_id: str = Field(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")
    description: str = Field(default="", max_length=200)
    balance_minor: StrictInt = Field(default=0, ge=0, le=MAX_AMOUNT_MINOR)
    currency: str = Field(default=DEMO_CURRENCY, pattern=r"^[A-Z]{3}$")


@router.get("/v1/dev/subjects", summary="List the subjects (emulator only)")
def list_subjects(backend: BackendDep,
                  _terminal: TerminalId) -> dict[str, Any]:
    """Every subject with its score, balance and restrictions."""
    out = []
    with backend.store.transaction() as conn:
        rows = conn.execute("SELECT subject_id, description FROM subjects"
                            " ORDER BY created_at, subject_id").fetchall()
        for row in rows:
            score = compute_score(conn, row["subject_id"], backend.now())
            wallet = wallet_available(conn, row["subject_id"])
            out.append({
                "subject_id": row["subject_id"], "description": row["description"],
                "score": score["score"], "restrictions": score["restrictions"],
                "balance": wallet[0].to_json() if wallet else None,
                "available": wallet[1].to_json() if wallet else None,
            })
    return {"subjects": out}


@router.post("/v1/dev/subjects", status_code=201, summary="Create a subject (emulator only)")
def create_subject(body: SubjectRequest, backend: BackendDep,
                   _terminal: TerminalId) -> dict[str, Any]:
    """A new payer with no history (base score) and ``balance_minor`` in its wallet."""
    with backend.store.transaction() as conn:
        if not add_subject(conn, body.subject_id, body.description, body.balance_minor,
                           backend.now(), body.currency):
            raise ApiError(409, "subject_exists", "a subject with this id already exists")
        return {"subject_id": body.subject_id}


@router.post("/v1/dev/payment-codes", status_code=201,
             summary="Issue a payment code as the rider's wallet app would (emulator only)")
def post_code(body: CodeRequest, backend: BackendDep,
              _terminal: TerminalId) -> dict[str, Any]:
    """``201 {"code": "SP1...."}`` signed with the back end's key."""
    with backend.store.transaction() as conn:
        if not subject_exists(conn, body.subject_id):
            raise ApiError(404, "unknown_subject", "no such subject")
    code = issue_code(body.subject_id, signing_key=backend.signing_key, now=backend.now(),
                      ttl_s=body.ttl_s)
    return {"code": code}
