"""Every money call of the kiosk is written down before it is sent, so a crash loses nothing.

:class:`JournaledGateway` and :class:`JournaledOrders` stand in front of the gateway clients:
a charge (face or wallet code) or a screen QR is recorded in the kiosk's SQLite file, with its
idempotency key, before the request leaves; a definite answer settles the record. After a power
cut or a crash, :func:`reconcile` re-sends every charge still unsettled with its own key (the
gateway replays what it did, or does it now — once either way) and withdraws every screen QR
still open (the gateway says if the phone paid first), then records the outcome on the order.
Orders left open with no money call in flight are voided.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from payments.clients.errors import ApiError, ConflictError, PaymentDeclined
from payments.clients.gateway import GatewayClient
from payments.clients.models import Charge
from payments.clients.orders import Order as GatewayOrder
from payments.clients.orders import OrderClient
from payments.events import Event, make_event
from payments.money import Money
from terminal.kiosk.orders import OrderBook, OrderBookError
from terminal.kiosk.smile import attempt_event_id, outcome_unknown

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kiosk_payments (
    reference TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    method TEXT NOT NULL,
    subject_id TEXT NOT NULL DEFAULT '',
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    charge_id TEXT,
    outcome TEXT
);
"""


def order_of(reference: str) -> str:
    """The kiosk order an attempt's gateway reference belongs to (``<order>P<attempt>``)."""
    return reference.rsplit("P", 1)[0]


@dataclass(frozen=True)
class InFlight:
    """A money call sent but not yet answered for certain."""

    reference: str
    order_id: str
    method: str
    subject_id: str
    amount: Money
    description: str
    idempotency_key: str


class PaymentJournal:
    """The kiosk's record of money calls in flight (its own connection to the kiosk's file)."""

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(kiosk_payments)")}
        if "outcome" not in columns:  # a journal written before outcomes were kept
            self._conn.execute("ALTER TABLE kiosk_payments ADD COLUMN outcome TEXT")

    def sent(self, method: str, reference: str, amount: Money, *, subject_id: str = "",
             description: str = "", idempotency_key: str = "") -> None:
        """Record a call about to be sent (again for the same reference: no change)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO kiosk_payments (reference, order_id, method, subject_id, "
                "amount_minor, currency, description, idempotency_key, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'sent')",
                (reference, order_of(reference), method, subject_id, amount.amount_minor,
                 amount.currency, description, idempotency_key))

    def settled(self, reference: str, charge_id: str | None = None, *,
                paid: bool = False) -> None:
        """The call's outcome is known for certain: ``paid`` (money moved) or not.

        A paid outcome stays on record until :meth:`recorded` says the order book has it, so
        a stop between the gateway's answer and the order's settlement loses nothing.
        """
        with self._lock:
            self._conn.execute("UPDATE kiosk_payments SET state = 'settled', "
                               "charge_id = COALESCE(?, charge_id), outcome = ? "
                               "WHERE reference = ? AND state = 'sent'",
                               (charge_id, "paid" if paid else "unpaid", reference))

    def paid_unrecorded(self) -> list[tuple[InFlight, str | None]]:
        """Calls that moved money and are not yet known to be on the order book."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT reference, order_id, method, subject_id, amount_minor, currency, "
                "description, idempotency_key, charge_id FROM kiosk_payments "
                "WHERE state = 'settled' AND outcome = 'paid'").fetchall()
        return [(InFlight(r[0], r[1], r[2], r[3], Money(r[4], r[5]), r[6], r[7]), r[8])
                for r in rows]

    def recorded(self, reference: str) -> None:
        """The order book shows the payment ``reference`` made: nothing left to check."""
        with self._lock:
            self._conn.execute("UPDATE kiosk_payments SET state = 'recorded' "
                               "WHERE reference = ? AND state = 'settled'", (reference,))

    def in_flight(self) -> list[InFlight]:
        """Calls whose outcome is not known yet."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT reference, order_id, method, subject_id, amount_minor, currency, "
                "description, idempotency_key FROM kiosk_payments WHERE state = 'sent'"
            ).fetchall()
        return [InFlight(r[0], r[1], r[2], r[3], Money(r[4], r[5]), r[6], r[7]) for r in rows]

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        with self._lock:
            self._conn.close()


class JournaledGateway:
    """The gateway client with every charge journalled first (``method``: face or wallet)."""

    def __init__(self, gateway: GatewayClient, journal: PaymentJournal, method: str) -> None:
        self._gateway = gateway
        self._journal = journal
        self._method = method

    def charge(self, subject_id: str, amount: Money, reference: str, description: str,
               idempotency_key: str) -> Charge:
        """Journal, charge, and settle the record when the answer is certain."""
        self._journal.sent(self._method, reference, amount, subject_id=subject_id,
                           description=description, idempotency_key=idempotency_key)
        try:
            charge = self._gateway.charge(subject_id, amount, reference, description,
                                          idempotency_key)
        except ApiError as exc:
            if not outcome_unknown(exc):
                self._journal.settled(reference)
            raise
        self._journal.settled(reference, charge.charge_id, paid=True)
        return charge

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)  # resolve_code, refund: nothing to journal


class JournaledOrders:
    """The orders client with every screen QR journalled while it can still be paid."""

    def __init__(self, orders: OrderClient, journal: PaymentJournal) -> None:
        self._orders = orders
        self._journal = journal

    def create_order(self, amount: Money, reference: str, idempotency_key: str, *,
                     expires_in_s: int = 300) -> GatewayOrder:
        """Journal, then create the order behind the QR."""
        self._journal.sent("qr", reference, amount, idempotency_key=idempotency_key)
        return self._orders.create_order(amount, reference, idempotency_key,
                                         expires_in_s=expires_in_s)

    def get_order(self, reference: str) -> GatewayOrder:
        """The order's status; a paid or expired order settles the record."""
        return self._settle(self._orders.get_order(reference))

    def cancel_order(self, reference: str) -> GatewayOrder:
        """Withdraw the QR; withdrawn settles the record (paid first: see get_order)."""
        return self._settle(self._orders.cancel_order(reference))

    def _settle(self, order: GatewayOrder) -> GatewayOrder:
        if order.status != "pending":
            self._journal.settled(order.reference, paid=order.status == "paid")
        return order


def reconcile(journal: PaymentJournal, orders: OrderBook, gateway: GatewayClient,
              order_client: OrderClient, *, terminal_id: str, wall_clock: Callable[[], float],
              emit: Callable[[Event], object], void_open: bool,
              skip_orders: frozenset[str] = frozenset()) -> int:
    """Settle every money call a crash left in flight; returns how many are still unknown.

    With ``void_open`` (at start-up, before any customer), orders still open with nothing in
    flight are voided: no money moved for them. ``skip_orders`` are orders the order flow is
    settling itself (the customer paying now, a charge it is re-sending).
    """
    unknown = 0
    for call in journal.in_flight():
        if call.order_id in skip_orders:
            continue
        try:
            if call.method == "qr":
                paid = _withdraw_qr(order_client, call.reference)
                charge_id = None
            else:
                charge = gateway.charge(call.subject_id, call.amount, call.reference,
                                        call.description, call.idempotency_key)
                paid, charge_id = True, charge.charge_id
        except PaymentDeclined:
            paid, charge_id = False, None
        except ApiError as exc:
            if outcome_unknown(exc):
                unknown += 1
                continue
            paid, charge_id = False, None
        journal.settled(call.reference, charge_id, paid=paid)
        if paid:
            _record_paid(orders, call, charge_id, terminal_id, wall_clock, emit)
            journal.recorded(call.reference)
    # Money that moved before a stop cut the flow short of settling its order (the answer was
    # in, the order book not yet written): the order is paid, not voided.
    for call, charge_id in journal.paid_unrecorded():
        if call.order_id in skip_orders:
            continue
        if not _is_paid(orders, call.order_id):  # else the flow settled it (event and all)
            _record_paid(orders, call, charge_id, terminal_id, wall_clock, emit)
        journal.recorded(call.reference)
    if void_open:
        in_flight = {call.order_id for call in journal.in_flight()}
        for order in orders.today():
            if order.status == "open" and order.order_id not in in_flight:
                orders.settle(order.order_id, "voided", reason_codes=("terminal_restarted",))
    return unknown


def _withdraw_qr(order_client: OrderClient, reference: str) -> bool:
    """Withdraw a screen QR; True when the phone had paid it first."""
    try:
        return order_client.cancel_order(reference).status == "paid"
    except ConflictError:
        return order_client.get_order(reference).status == "paid"


def _is_paid(orders: OrderBook, order_id: str) -> bool:
    try:
        return orders.get(order_id).status == "paid"
    except OrderBookError:
        return False


def _record_paid(orders: OrderBook, call: InFlight, charge_id: str | None, terminal_id: str,
                 wall_clock: Callable[[], float], emit: Callable[[Event], object]) -> None:
    """Put a payment that went through on its order, and log its event.

    The event has the id the payment flow gives it (:func:`attempt_event_id`), so when the flow
    had logged it before the stop, the outbox keeps the one it has.
    """
    amount = {"amount_minor": call.amount.amount_minor, "currency": call.amount.currency}
    if call.method == "qr":
        kind, subject = "order.paid", None
        attributes: dict[str, Any] = {"order_id": call.reference, **amount,
                                      "method": "merchant_qr"}
    else:
        kind, subject = "payment.captured", call.subject_id or None
        attributes = {"order_id": call.reference, "charge_id": charge_id,
                      "method": "smile" if call.method == "face" else "wallet_code", **amount}
    emit(make_event(kind, terminal_id=terminal_id, subject_id=subject, attributes=attributes,
                    clock=wall_clock,
                    event_id=attempt_event_id(terminal_id, kind, call.reference)))
    if _is_paid(orders, call.order_id):
        return  # recorded before the stop: nothing new to say
    try:
        order = orders.settle(call.order_id, "paid", paid_with=call.method,  # type: ignore[arg-type]
                              charge_id=charge_id, reason_codes=("paid_before_restart",))
    except OrderBookError as exc:
        log.warning("kiosk order %s was paid (%s) but could not be recorded: %s",
                    call.order_id, call.reference, exc)
        return
    log.warning("kiosk order %s: a payment in flight at the last stop went through; it is on "
                "the staff screen", order.order_id)
