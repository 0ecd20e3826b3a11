"""Emulator-only: play the customer's wallet paying a kiosk order's dynamic QR."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from backend.context import BackendDep, TerminalId
from backend.errors import ApiError
from backend.routes_orders import load_order, order_json

DEV_ONLY = True

router = APIRouter(tags=["emulator only"])


@router.post("/v1/dev/orders/{reference}/pay", summary="Pay an order (emulator only)")
def pay_order(reference: Annotated[str, Path(max_length=64)], backend: BackendDep,
              terminal_id: TerminalId) -> dict[str, Any]:
    """Mark a pending order paid, as if a wallet had scanned the QR and paid it."""
    now = backend.now()
    with backend.store.transaction() as conn:
        row = load_order(conn, terminal_id, reference)
        status = order_json(row, now)["status"]
        if status == "paid":
            raise ApiError(409, "order_already_paid", "this order is already paid")
        if status == "expired":
            raise ApiError(410, "order_expired", "this order expired before it was paid")
        conn.execute("UPDATE orders SET paid_at = ? WHERE order_id = ?", (now, row["order_id"]))
        return order_json(load_order(conn, terminal_id, reference), now)
