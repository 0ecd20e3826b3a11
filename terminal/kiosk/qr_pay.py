"""Paying a kiosk order by QR: the customer's wallet code shown to the camera, or the kiosk's
dynamic merchant QR scanned by the customer's phone.

Wallet code: the payload is parsed (any scheme the parser knows, so the customer hears *why* a
code is refused), a ScanPay app code is checked locally (structure, expiry, replay) before any
network call, resolved once by the gateway (which checks the signature and single use) and
charged with an idempotency key made once for this order.

Merchant QR: the gateway creates the order and returns its EMVCo dynamic payload (amount,
reference, expiry in the additional data); the kiosk renders it as a PNG for the screen and
polls the order until it is paid or expires.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from payments.clients.errors import ApiError, CodeRejected, PaymentDeclined
from payments.clients.gateway import GatewayClient, new_idempotency_key
from payments.clients.orders import Order as GatewayOrder
from payments.clients.orders import OrderClient, wait_for_order
from payments.events import Event, make_event
from payments.paycode import PaymentCodeError, ReplayGuard, check_locally, parse_code
from payments.policy import Reason
from payments.qr import QRPayloadError, parse_payload
from terminal.kiosk.smile import Order, PendingCharge, attempt_event_id, outcome_unknown

Outcome = Literal["paid", "declined", "rejected", "expired", "pending", "failed"]

APP_SCHEME = "scanpay-app"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QrPayResult:
    """How a QR payment ended, with at most four plain-language reasons."""

    outcome: Outcome
    reasons: tuple[Reason, ...]
    charge_id: str | None = None
    scheme: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data for screens, receipts and logs."""
        return {"outcome": self.outcome, "charge_id": self.charge_id, "scheme": self.scheme,
                "reason_codes": [r.code for r in self.reasons],
                "reasons": [r.text for r in self.reasons]}


class KioskQrPayments:
    """Both QR payment directions of one kiosk."""

    def __init__(
        self,
        *,
        terminal_id: str,
        gateway: GatewayClient,
        orders: OrderClient,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        replay_guard: ReplayGuard | None = None,
        emit: Callable[[Event], object] | None = None,
    ) -> None:
        self._terminal_id = terminal_id
        self._gateway = gateway
        self._orders = orders
        self._clock = clock
        self._sleep = sleep
        self._guard = replay_guard or ReplayGuard(capacity=10_000, clock=clock)
        self._emit = emit or (lambda _e: None)
        self._keys: dict[tuple[str, str], str] = {}
        # A wallet-code charge whose answer never arrived (see recheck_charge).
        self.pending_charge: PendingCharge | None = None

    # -- the customer's wallet code, shown to the kiosk camera -----------------------------------

    def pay_with_wallet_code(self, order: Order, payload: str | bytes) -> QrPayResult:
        """Charge ``order`` to the wallet whose payment code the camera read."""
        try:
            parsed = parse_payload(payload)
        except QRPayloadError as exc:
            return self._rejected(order, "code_unreadable",
                                  f"This is not a payment code we can read ({exc.message}).")
        if parsed.scheme != APP_SCHEME:
            return self._rejected(
                order, "scheme_not_accepted",
                f"This kiosk cannot take {parsed.scheme} codes; please use the ScanPay app or "
                "scan the code on the screen.", scheme=parsed.scheme)
        try:
            code = parse_code(payload)
            check_locally(code, now=self._clock())
            self._guard.check_and_remember(code)
        except PaymentCodeError as exc:
            return self._rejected(order, exc.code, exc.message, scheme=APP_SCHEME)
        try:
            resolved = self._gateway.resolve_code(code.text, self._key(order, "resolve"))
        except CodeRejected as exc:
            return self._rejected(order, exc.code, exc.message, scheme=APP_SCHEME)
        except ApiError as exc:
            return QrPayResult("failed", (_reason(exc.code, "The payment service did not "
                                                  "answer; nothing was charged."),), None,
                               APP_SCHEME)
        try:
            charge = self._gateway.charge(resolved.subject_id, order.amount, order.order_id,
                                          order.description, self._key(order, "charge"))
        except PaymentDeclined as exc:
            self._event("payment.declined", resolved.subject_id, order, reason=exc.code)
            return QrPayResult("declined", (_reason(exc.code, "Your wallet declined the "
                                                    "payment."),), None, APP_SCHEME)
        except ApiError as exc:
            if outcome_unknown(exc):
                self.pending_charge = PendingCharge(resolved.subject_id, order.amount,
                                                    order.order_id, order.description,
                                                    self._key(order, "charge"))
                return QrPayResult("failed", (_reason("payment_unconfirmed", "We could not "
                                                      "confirm the payment yet."),), None,
                                   APP_SCHEME)
            return QrPayResult("failed", (_reason(exc.code, "The payment service refused "
                                                  "the payment; nothing was charged."),), None,
                               APP_SCHEME)
        self._event("payment.captured", resolved.subject_id, order, method="wallet_code",
                    charge_id=charge.charge_id)
        return QrPayResult("paid", (_reason("wallet_code_paid", f"Paid {order.amount} with "
                                            "your wallet's payment code."),),
                           charge.charge_id, APP_SCHEME)

    def recheck_charge(self) -> tuple[str, str | None]:
        """Re-send the :attr:`pending_charge` with its key: ``("charged", charge_id)``,
        ``("declined", None)`` or ``("unknown", None)`` (still no answer)."""
        pending = self.pending_charge
        if pending is None:
            return "declined", None
        order = Order(pending.reference, pending.amount, pending.description)
        try:
            charge = self._gateway.charge(pending.subject_id, pending.amount, pending.reference,
                                          pending.description, pending.idempotency_key)
        except PaymentDeclined as exc:
            self.pending_charge = None
            self._event("payment.declined", pending.subject_id, order, reason=exc.code)
            return "declined", None
        except ApiError as exc:
            if outcome_unknown(exc):
                return "unknown", None
            self.pending_charge = None
            return "declined", None
        self.pending_charge = None
        self._event("payment.captured", pending.subject_id, order, method="wallet_code",
                    charge_id=charge.charge_id)
        return "charged", charge.charge_id

    # -- the kiosk's dynamic merchant QR, scanned by the customer's phone ------------------------

    def show_merchant_qr(self, order: Order, *, expires_in_s: int = 300) -> tuple[GatewayOrder,
                                                                                   bytes]:
        """Create the order at the gateway; returns it and a PNG of its QR for the screen."""
        created = self.create_merchant_order(order, expires_in_s=expires_in_s)
        return created, qr_png(created.qr_payload)

    def create_merchant_order(self, order: Order, *, expires_in_s: int = 300) -> GatewayOrder:
        """Create the order at the gateway (its ``qr_payload`` is what the screen shows)."""
        return self._orders.create_order(order.amount, order.order_id,
                                         self._key(order, "order"), expires_in_s=expires_in_s)

    def check_merchant_qr(self, order: Order) -> QrPayResult:
        """Ask the gateway once whether the customer's phone has paid ``order``'s QR."""
        try:
            return self._merchant_result(order, self._orders.get_order(order.order_id))
        except ApiError as exc:
            return QrPayResult("pending", (_reason(exc.code, "We could not ask the payment "
                                                   "service yet; still waiting."),))

    def wait_for_merchant_qr(self, order: Order, *, deadline_s: float,
                             interval_s: float = 1.0) -> QrPayResult:
        """Poll the gateway until the order is paid or expired (or ``deadline_s`` passes)."""
        final = wait_for_order(self._orders, order.order_id, clock=self._clock,
                               sleep=self._sleep, deadline_s=deadline_s, interval_s=interval_s)
        return self._merchant_result(order, final)

    def cancel_merchant_qr(self, order: Order) -> QrPayResult:
        """Withdraw ``order``'s QR at the gateway (the customer left): nothing stays payable.

        ``paid`` if the customer's phone paid first (the order stands); ``expired`` once
        withdrawn; ``pending`` only when the gateway could not be reached (the QR then expires
        by itself at its deadline, and a late payment shows up on the next check).
        """
        from payments.clients.errors import ConflictError

        try:
            withdrawn = self._orders.cancel_order(order.order_id)
        except ConflictError:
            return self.check_merchant_qr(order)
        except ApiError as exc:
            log.warning("merchant QR %s: could not withdraw it (%s)", order.order_id, exc.code)
            return QrPayResult("pending", (_reason(exc.code, "We could not reach the payment "
                                                   "service to withdraw the code."),))
        if withdrawn.status == "paid":
            return self._merchant_result(order, withdrawn)
        self._event("order.cancelled", None, order, reason="withdrawn")
        return QrPayResult("expired", (_reason("cancelled", "The code on the screen was "
                                               "withdrawn; nothing was charged."),))

    def _merchant_result(self, order: Order, final: GatewayOrder) -> QrPayResult:
        if final.status == "paid":
            self._event("order.paid", None, order, method="merchant_qr")
            return QrPayResult("paid", (_reason("merchant_qr_paid", f"Paid {order.amount} by "
                                                "scanning the code on the screen."),))
        if final.status == "expired":
            self._event("order.cancelled", None, order, reason="qr_expired")
            return QrPayResult("expired", (_reason("qr_expired", "The code on the screen "
                                                   "expired; start again to pay."),))
        return QrPayResult("pending", (_reason("not_paid_yet", "We have not received the "
                                               "payment yet."),))

    # -- helpers -------------------------------------------------------------------------------

    def _rejected(self, order: Order, code: str, text: str, *,
                  scheme: str | None = None) -> QrPayResult:
        self._event("code.rejected", None, order, reason=code)
        return QrPayResult("rejected", (_reason(code, text),), None, scheme)

    def _key(self, order: Order, purpose: str) -> str:
        """One idempotency key per order and purpose, reused on every retry."""
        return self._keys.setdefault((order.order_id, purpose), new_idempotency_key())

    def _event(self, kind: str, subject_id: str | None, order: Order, **attributes: Any) -> None:
        # One event of a kind per payment attempt: its id derives from the attempt, so the
        # same event re-emitted after a crash (by the restart's reconciliation) is kept once.
        self._emit(make_event(kind, terminal_id=self._terminal_id, subject_id=subject_id,
                              attributes={"order_id": order.order_id,
                                          "amount_minor": order.amount.amount_minor,
                                          "currency": order.amount.currency, **attributes},
                              clock=self._clock,
                              event_id=attempt_event_id(self._terminal_id, kind,
                                                        order.order_id)))


def qr_png(payload: str, *, box_size: int = 8) -> bytes:
    """A PNG image of ``payload`` as a QR code (error correction M, quiet zone 4)."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(payload)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    return out.getvalue()


def _reason(code: str, text: str) -> Reason:
    return Reason(code, text)


def qr_svg(payload: str, *, label: str = "QR code") -> str:
    """An inline, scalable SVG of ``payload`` as a QR code (error correction M, quiet zone 4).

    Drawn from the code's module matrix as one path, so a page shows it without an image
    request; ``label`` names it for assistive technology.
    """
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    code.add_data(payload)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    runs: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if row[x]:
                start = x
                while x < size and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    escaped = (label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;"))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
            f'role="img" aria-label="{escaped}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/>'
            f'<path d="{"".join(runs)}" fill="#000"/></svg>')
