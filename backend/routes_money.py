"""Payment gateway: deposit holds, charges and refunds (all idempotent by Idempotency-Key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from backend import ledger, proofs, provenance
from backend.context import (
    MAX_AMOUNT_MINOR,
    BackendDep,
    CallerDep,
    money_from,
    on_store,
)
from backend.idempotency import IdempotencyKey, run_idempotent
from backend.roles import ACTS_FOR_ALL

SCHEMA_SQL = ledger.SCHEMA_SQL + proofs.SCHEMA_SQL + provenance.SCHEMA_SQL

router = APIRouter(tags=["payment gateway"])

_ID = Field(min_length=1, max_length=128)
HoldId = Annotated[str, Path(max_length=128)]


class MoneyBody(BaseModel):
    """Integer minor units and an ISO 4217 currency."""

    model_config = ConfigDict(extra="forbid")
    amount_minor: StrictInt = Field(le=MAX_AMOUNT_MINOR)
    currency: str = Field(min_length=3, max_length=3)


class HoldRequest(BaseModel):
    """Reserve a deposit."""

    model_config = ConfigDict(extra="forbid")
    subject_id: str = _ID
    amount: MoneyBody
    reference: str = Field(min_length=1, max_length=128, description="e.g. the ride id")


class CaptureRequest(BaseModel):
    """Keep (part of) a deposit."""

    model_config = ConfigDict(extra="forbid")
    amount: MoneyBody


class ChargeRequest(BaseModel):
    """Take money from a payer."""

    model_config = ConfigDict(extra="forbid")
    subject_id: str = _ID
    amount: MoneyBody
    reference: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=256)


class RefundRequest(BaseModel):
    """Give (part of) a charge back."""

    model_config = ConfigDict(extra="forbid")
    charge_id: str = _ID
    amount: MoneyBody


@router.post("/v1/holds", status_code=201, summary="Place a deposit hold")
async def post_hold(body: HoldRequest, request: Request, backend: BackendDep, caller: CallerDep,
                    key: IdempotencyKey) -> JSONResponse:
    """``201 {"hold_id", "status": "held", "amount"}`` or ``402 payment_declined``."""
    terminal_id = caller.terminal_id

    def operation(conn: Any) -> tuple[int, dict[str, Any]]:
        proofs.require_proof(conn, terminal_id=terminal_id, subject_id=body.subject_id,
                             now=backend.now())
        return 201, ledger.place_hold(
            conn, subject_id=body.subject_id, amount=money_from(body.amount.model_dump()),
            reference=body.reference, terminal_id=terminal_id, now=backend.now())
    return await on_store(backend, lambda: run_idempotent(
        request, terminal_id=terminal_id, key=key, body=body.model_dump(), operation=operation))


@router.post("/v1/holds/{hold_id}/release", summary="Release a deposit hold")
async def post_release(hold_id: HoldId, request: Request, backend: BackendDep,
                       caller: CallerDep, key: IdempotencyKey) -> JSONResponse:
    """``200 {"hold_id", "status": "released"}``; ``409 hold_not_active`` if already settled."""
    owner = None if caller.role in ACTS_FOR_ALL else caller.terminal_id
    return await on_store(backend, lambda: run_idempotent(
        request, terminal_id=caller.terminal_id, key=key, body={},
        operation=lambda conn: (200, ledger.release_hold(conn, hold_id, owner=owner))))


@router.post("/v1/holds/{hold_id}/capture", summary="Capture (part of) a deposit hold")
async def post_capture(hold_id: HoldId, body: CaptureRequest, request: Request,
                       backend: BackendDep, caller: CallerDep,
                       key: IdempotencyKey) -> JSONResponse:
    """``200 {"hold_id", "status": "captured", "charge_id", "amount"}``."""
    terminal_id = caller.terminal_id

    def operation(conn: Any) -> tuple[int, dict[str, Any]]:
        return 200, ledger.capture_hold(conn, hold_id, money_from(body.amount.model_dump()),
                                        terminal_id=terminal_id, now=backend.now())
    return await on_store(backend, lambda: run_idempotent(
        request, terminal_id=terminal_id, key=key, body=body.model_dump(), operation=operation))


@router.post("/v1/charges", status_code=201, summary="Charge a payer")
async def post_charge(body: ChargeRequest, request: Request, backend: BackendDep,
                      caller: CallerDep, key: IdempotencyKey) -> JSONResponse:
    """``201 {"charge_id", "status": "captured", "amount"}`` or ``402 payment_declined``."""
    terminal_id = caller.terminal_id

    def operation(conn: Any) -> tuple[int, dict[str, Any]]:
        proofs.require_proof(conn, terminal_id=terminal_id, subject_id=body.subject_id,
                             now=backend.now(), reference=body.reference,
                             use_up=caller.role in proofs.SINGLE_USE)
        return 201, ledger.charge(
            conn, subject_id=body.subject_id, amount=money_from(body.amount.model_dump()),
            reference=body.reference, description=body.description, terminal_id=terminal_id,
            now=backend.now())
    return await on_store(backend, lambda: run_idempotent(
        request, terminal_id=terminal_id, key=key, body=body.model_dump(), operation=operation))


@router.post("/v1/refunds", status_code=201, summary="Refund (part of) a charge")
async def post_refund(body: RefundRequest, request: Request, backend: BackendDep,
                      caller: CallerDep, key: IdempotencyKey) -> JSONResponse:
    """``201 {"refund_id", "charge_id", "status": "refunded", "amount"}``."""
    terminal_id = caller.terminal_id
    owner = None if caller.role in ACTS_FOR_ALL else terminal_id

    def operation(conn: Any) -> tuple[int, dict[str, Any]]:
        return 201, ledger.refund(conn, charge_id=body.charge_id,
                                  amount=money_from(body.amount.model_dump()),
                                  terminal_id=terminal_id, now=backend.now(), owner=owner)
    return await on_store(backend, lambda: run_idempotent(
        request, terminal_id=terminal_id, key=key, body=body.model_dump(), operation=operation))
