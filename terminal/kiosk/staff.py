"""The staff side of the kiosk: who may use it (a PIN, slowed against guessing) and refunds.

A refund goes through the gateway's refund with an idempotency key made from the order id, so
pressing the button twice, or again after a lost answer, returns the same refund and never
pays out twice. Orders paid by the customer's phone (the kiosk's merchant QR) carry no charge
id at the kiosk; their refund is made from the operator's console instead, and the staff screen
says so.
"""

from __future__ import annotations

import hmac
import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from payments.clients.errors import ApiError, ConflictError
from payments.clients.gateway import GatewayClient
from payments.events import Event, make_event
from payments.money import Money
from terminal.errors import TerminalError
from terminal.kiosk.orders import KioskOrder, OrderBook

SESSION_S = 600.0
MAX_FAILURES = 5
LOCKOUT_S = 60.0


class StaffError(TerminalError):
    """A staff action was refused: ``code`` names the words the screen shows (in the staff's
    language), ``values`` fill them in; the message is the same in English for logs."""

    def __init__(self, message: str, code: str, **values: str) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


@dataclass(frozen=True)
class RefundResult:
    """How a refund ended."""

    order: KioskOrder
    refund_id: str
    already: bool


class StaffGate:
    """PIN check with a lockout after repeated failures, and short-lived staff sessions."""

    def __init__(self, pin: str, *, clock: Callable[[], float]) -> None:
        self._pin = pin
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, float] = {}
        self._failures = 0
        self._locked_until = 0.0

    @property
    def enabled(self) -> bool:
        """Whether a PIN is configured (no PIN: the staff screen stays closed)."""
        return bool(self._pin)

    def login(self, pin: str) -> str:
        """A session token for the right PIN; StaffError otherwise (and while locked out)."""
        now = self._clock()
        with self._lock:
            if not self._pin:
                raise StaffError("The staff screen is turned off on this kiosk", "disabled")
            if now < self._locked_until:
                wait = str(math.ceil(self._locked_until - now))
                raise StaffError(f"Too many wrong PINs; try again in {wait} s", "locked_out",
                                 s=wait)
            if not hmac.compare_digest(pin.encode(), self._pin.encode()):
                self._failures += 1
                if self._failures >= MAX_FAILURES:
                    self._failures = 0
                    self._locked_until = now + LOCKOUT_S
                raise StaffError("Wrong PIN", "wrong_pin")
            self._failures = 0
            token = secrets.token_urlsafe(24)
            self._sessions = {t: exp for t, exp in self._sessions.items() if exp > now}
            self._sessions[token] = now + SESSION_S
            return token

    def check(self, token: str | None) -> bool:
        """Whether ``token`` is a live staff session."""
        if not token:
            return False
        with self._lock:
            expires = self._sessions.get(token)
            return expires is not None and expires > self._clock()

    def logout(self, token: str | None) -> None:
        """End a staff session."""
        with self._lock:
            self._sessions.pop(token or "", None)


# One refund at a time: two clicks that race each other give one refund and one event.
_REFUNDING = threading.Lock()


def refund_order(orders: OrderBook, gateway: GatewayClient, order_id: str, *,
                 emit: Callable[[Event], object], terminal_id: str,
                 wall_clock: Callable[[], float]) -> RefundResult:
    """Refund a paid order in full (again for the same order: the same refund)."""
    with _REFUNDING:
        return _refund(orders, gateway, order_id, emit=emit, terminal_id=terminal_id,
                       wall_clock=wall_clock)


def _refund(orders: OrderBook, gateway: GatewayClient, order_id: str, *,
            emit: Callable[[Event], object], terminal_id: str,
            wall_clock: Callable[[], float]) -> RefundResult:
    try:
        order = orders.get(order_id)
    except TerminalError as exc:
        raise StaffError(str(exc), "unknown_order") from None
    if order.status == "refunded" and order.refund_id:
        return RefundResult(order, order.refund_id, already=True)
    if order.status != "paid":
        raise StaffError(f"Order {order.label} is {order.status}; only paid orders are refunded",
                         "not_paid", order=order.label, status=order.status)
    if not order.charge_id:
        raise StaffError(f"Order {order.label} was paid by the customer's phone; refund it "
                         "from the operator's console", "phone_paid", order=order.label)
    try:
        refund = gateway.refund(order.charge_id, Money(order.total_minor, order.currency),
                                f"refund:{order.order_id}")
    except ConflictError as exc:
        raise StaffError(f"The gateway refused the refund: {exc.message}", "refund_refused",
                         order=order.label) from None
    except ApiError as exc:
        raise StaffError(f"The payment service did not answer ({exc.code}); nothing changed. "
                         "Try again.", "service_down") from None
    order = orders.mark_refunded(order.order_id, refund.refund_id)
    emit(make_event("payment.refunded", terminal_id=terminal_id, subject_id=None, attributes={
        "order_id": order.order_id, "charge_id": order.charge_id,
        "refund_id": refund.refund_id, "amount_minor": order.total_minor,
        "currency": order.currency}, clock=wall_clock))
    return RefundResult(order, refund.refund_id, already=False)
