"""Payment gateway: resolve a scanned app payment code to its payer (single use)."""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.context import (
    Backend,
    BackendDep,
    CallerDep,
    TerminalId,
    on_store,
    rfc3339,
)
from backend.errors import ApiError
from backend.idempotency import IdempotencyKey, run_idempotent
from backend.proofs import record_proof
from backend.provenance import record_served
from payments.paycode import (
    PaymentCode,
    PaymentCodeError,
    check_locally,
    parse_code,
    public_key_bytes,
    verify_signature,
)

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS used_codes (
    code_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    used_at REAL NOT NULL
);
"""

# HTTP status of each payment-code error.
CODE_STATUS = {
    "code_malformed": 400,
    "code_not_yet_valid": 400,
    "code_signature_invalid": 401,
    "code_already_used": 409,
    "code_expired": 410,
}

router = APIRouter(tags=["payment gateway"])


class ResolveRequest(BaseModel):
    """A scanned code, exactly as read from the QR."""

    code: str = Field(max_length=4096)


def resolve_code(backend: Backend, conn: sqlite3.Connection, text: str,
                 terminal_id: str, role: str | None = None) -> dict[str, Any]:
    """Check signature, expiry (gateway clock, no skew) and single use; mark the code used."""
    now = backend.now()
    code = use_code(backend, conn, text, terminal_id)
    record_served(conn, terminal_id=terminal_id, subject_id=code.subject_id, now=now)
    if role is not None:  # the terminal may now hold or charge this payer (proofs.py)
        record_proof(conn, terminal_id=terminal_id, role=role, subject_id=code.subject_id,
                     source="code", now=now)
    return {"subject_id": code.subject_id, "code_id": code.code_id,
            "expires_at": rfc3339(code.expires_at)}


def use_code(backend: Backend, conn: sqlite3.Connection, text: str,
             used_by: str) -> PaymentCode:
    """The payment code ``text`` once its signature, expiry and single use are checked, marked
    used by ``used_by``; the payment-code errors of docs/api.md otherwise. Records no service
    (a person proving their own account, e.g. for their report, serves nobody)."""
    now = backend.now()
    try:
        code = parse_code(text)
        verify_signature(code, backend.public_keys)
        check_locally(code, now=now, max_skew_s=0)
    except PaymentCodeError as exc:
        raise ApiError(CODE_STATUS[exc.code], exc.code, exc.message) from None
    if conn.execute("SELECT 1 FROM subjects WHERE subject_id = ?",
                    (code.subject_id,)).fetchone() is None:
        raise ApiError(404, "unknown_subject", "the code's payer is not known to this gateway")
    cur = conn.execute("INSERT INTO used_codes(code_id, subject_id, terminal_id, used_at)"
                       " VALUES (?, ?, ?, ?) ON CONFLICT (code_id) DO NOTHING",
                       (code.code_id, code.subject_id, used_by, now))
    if cur.rowcount != 1:
        raise ApiError(409, "code_already_used",
                       "this payment code was already used; ask the rider to refresh it")
    return code


@router.post("/v1/payment-codes/resolve", summary="Resolve a scanned app payment code (once)")
async def post_resolve(body: ResolveRequest, request: Request, backend: BackendDep,
                       caller: CallerDep, key: IdempotencyKey) -> JSONResponse:
    """Check the code and mark it used; a retry with the same Idempotency-Key gets the same 200."""
    return await on_store(backend, lambda: run_idempotent(
        request, terminal_id=caller.terminal_id, key=key, body=body.model_dump(),
        operation=lambda conn: (200, resolve_code(backend, conn, body.code, caller.terminal_id,
                                                  caller.role)),
    ))


@router.get("/v1/payment-codes/keys", summary="Public keys that sign payment codes")
def get_keys(backend: BackendDep,
             _terminal: TerminalId) -> dict[str, Any]:
    """Key id and raw Ed25519 public key (hex) of each issuer, for terminals that verify locally."""
    return {"keys": [{"key_id": kid, "algorithm": "Ed25519",
                      "public_key_hex": public_key_bytes(pub).hex()}
                     for kid, pub in backend.public_keys.items()]}
