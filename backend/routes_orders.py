"""Payment gateway: orders behind the kiosk's dynamic QR (create, then poll the status).

The kiosk creates an order (amount, reference, lifetime) and gets back the EMVCo
merchant-presented payload to show; the customer's wallet scans and pays it; the kiosk polls
``GET /v1/orders/{reference}`` until the status is ``paid`` or ``expired``. Orders belong to the
terminal that created them; another terminal's reference is ``404 unknown_order``.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from backend.context import (
    Backend,
    BackendDep,
    TerminalId,
    money_from,
    rfc3339,
)
from backend.errors import ApiError
from backend.idempotency import IdempotencyKey, run_idempotent
from payments.money import Money
from payments.qr import QRBuildError
from payments.qr.generate import MerchantAccount, make_dynamic_mpm
from payments.qr.mpm import CURRENCY_NUMERIC

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    paid_at REAL,
    qr_payload TEXT NOT NULL,
    UNIQUE (terminal_id, reference)
);
"""

REFERENCE_PATTERN = r"^[A-Za-z0-9]{1,25}$"
MIN_TTL_S = 10
MAX_TTL_S = 3600
# The merchant the emulator's acquirer registered for every kiosk.
MERCHANT_NAME = "SCANPAY DEMO KIOSK"
MERCHANT_CITY = "SHANGHAI"
MERCHANT_COUNTRY = "CN"
MERCHANT_GUI = "io.scanpay"
_ACCOUNT_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

router = APIRouter(tags=["payment gateway"])


class OrderRequest(BaseModel):
    """One order the kiosk wants paid through its dynamic QR."""

    model_config = ConfigDict(extra="forbid")
    amount: dict[str, Any]
    reference: str = Field(pattern=REFERENCE_PATTERN)
    expires_in_s: StrictInt = Field(default=300, ge=MIN_TTL_S, le=MAX_TTL_S)


def order_json(row: sqlite3.Row, now: float) -> dict[str, Any]:
    """The wire form of one order, its status computed at ``now``."""
    if row["paid_at"] is not None:
        status = "paid"
    elif now >= row["expires_at"]:
        status = "expired"
    else:
        status = "pending"
    return {
        "order_id": row["order_id"], "reference": row["reference"], "status": status,
        "amount": Money(row["amount_minor"], row["currency"]).to_json(),
        "created_at": rfc3339(row["created_at"]), "expires_at": rfc3339(row["expires_at"]),
        "paid_at": rfc3339(row["paid_at"]) if row["paid_at"] is not None else None,
        "qr_payload": row["qr_payload"],
    }


def load_order(conn: sqlite3.Connection, terminal_id: str, reference: str) -> sqlite3.Row:
    """The terminal's order with ``reference``, or ``404 unknown_order``."""
    row = conn.execute("SELECT * FROM orders WHERE terminal_id = ? AND reference = ?",
                       (terminal_id, reference)).fetchone()
    if row is None:
        raise ApiError(404, "unknown_order", "no order with this reference for this terminal")
    return row


def _merchant(terminal_id: str) -> MerchantAccount:
    account = terminal_id if _ACCOUNT_RE.fullmatch(terminal_id) else secrets.token_hex(8)
    return MerchantAccount(name=MERCHANT_NAME, city=MERCHANT_CITY, country=MERCHANT_COUNTRY,
                           gui=MERCHANT_GUI, account_id=account)


def _create(backend: Backend, conn: sqlite3.Connection, body: OrderRequest,
            terminal_id: str) -> tuple[int, dict[str, Any]]:
    amount = money_from(body.amount)
    if amount.currency not in CURRENCY_NUMERIC:
        raise ApiError(400, "invalid_money", f"{amount.currency} cannot be shown in an EMVCo QR")
    if conn.execute("SELECT 1 FROM orders WHERE terminal_id = ? AND reference = ?",
                    (terminal_id, body.reference)).fetchone() is not None:
        raise ApiError(409, "order_exists", "an order with this reference already exists")
    now = backend.now()
    expires_at = int(now) + body.expires_in_s
    try:
        payload = make_dynamic_mpm(_merchant(terminal_id), amount, body.reference, expires_at)
    except QRBuildError as exc:
        raise ApiError(400, "invalid_order", str(exc)) from None
    order_id = f"ord_{secrets.token_hex(12)}"
    # The check above answers the common case; two creations racing with one reference are
    # decided here by the unique key (the second one waits for the first, then inserts nothing).
    inserted = conn.execute(
        "INSERT INTO orders(order_id, terminal_id, reference, amount_minor, currency,"
        " created_at, expires_at, paid_at, qr_payload) VALUES (?,?,?,?,?,?,?,NULL,?)"
        " ON CONFLICT (terminal_id, reference) DO NOTHING",
        (order_id, terminal_id, body.reference, amount.amount_minor, amount.currency,
         now, expires_at, payload))
    if inserted.rowcount == 0:
        raise ApiError(409, "order_exists", "an order with this reference already exists")
    return 201, order_json(load_order(conn, terminal_id, body.reference), now)


@router.post("/v1/orders", status_code=201, summary="Create an order for the kiosk's dynamic QR")
def post_order(body: OrderRequest, request: Request, backend: BackendDep,
               terminal_id: TerminalId, key: IdempotencyKey) -> JSONResponse:
    """Create the order and its QR payload; a retry with the same key gets the same answer."""
    return run_idempotent(
        request, terminal_id=terminal_id, key=key, body=body.model_dump(),
        operation=lambda conn: _create(backend, conn, body, terminal_id),
    )


@router.get("/v1/orders/{reference}", summary="Status of one order: pending, paid or expired")
def get_order(reference: Annotated[str, Path(max_length=64)], backend: BackendDep,
              terminal_id: TerminalId) -> dict[str, Any]:
    """The order as it stands now."""
    with backend.store.transaction() as conn:
        return order_json(load_order(conn, terminal_id, reference), backend.now())


@router.post("/v1/orders/{reference}/cancel",
             summary="Withdraw an unpaid order: its QR can no longer be paid")
def cancel_order(reference: Annotated[str, Path(max_length=64)], backend: BackendDep,
                 terminal_id: TerminalId) -> dict[str, Any]:
    """The customer walked away: the order's QR stops being payable at once (it reads as
    ``expired`` from now on). Cancelling again is harmless; a paid order answers
    ``409 order_already_paid``, so the kiosk knows the money arrived and keeps the order."""
    now = backend.now()
    with backend.store.transaction() as conn:
        row = load_order(conn, terminal_id, reference)
        if row["paid_at"] is not None:
            raise ApiError(409, "order_already_paid", "this order was paid before the cancel")
        if now < row["expires_at"]:
            conn.execute("UPDATE orders SET expires_at = ? WHERE order_id = ?",
                         (now, row["order_id"]))
        return order_json(load_order(conn, terminal_id, reference), now)
