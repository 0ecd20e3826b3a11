"""The three ways to pay a kiosk order, behind one small interface the order flow drives.

- :class:`FacePayment` — Smile to Pay (:class:`~terminal.kiosk.smile.SmileToPay`): camera frames
  in, randomised prompts and the phone-digit keypad out;
- :class:`WalletCodePayment` — the customer's wallet payment code shown to the kiosk camera;
- :class:`MerchantQrPayment` — the kiosk's dynamic merchant QR on screen, paid by the customer's
  phone; the gateway is asked every ``poll_s`` until it is paid or expires.

Each returns a :class:`PayView` after every step: what the screen shows and whether the payment
is still pending, paid or failed (with plain-language reasons). ``void()`` abandons an attempt so
that nothing stays pending: the face attempt forgets its frames, the merchant QR is withdrawn at
the gateway (a phone that paid just before the customer walked away is kept as paid).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from payments.policy import Reason
from terminal.kiosk.qr_pay import KioskQrPayments, QrPayResult, qr_svg
from terminal.kiosk.smile import Order, SmileStatus, SmileToPay
from terminal.kiosk.smile_states import SmileState

log = logging.getLogger(__name__)

Method = Literal["face", "wallet", "qr"]
PayOutcome = Literal["pending", "paid", "failed"]


@dataclass(frozen=True)
class PayView:
    """What the payment screen shows now, and how the payment stands."""

    method: Method
    outcome: PayOutcome = "pending"
    # Where the attempt is: a Smile-to-Pay state, "scanning", "checking" or "waiting".
    stage: str = ""
    # Message id for the screen's text catalogue, and the flow's own English words.
    prompt_id: str = ""
    prompt: str = ""
    action: str | None = None
    digits_asked: str | None = None
    reasons: tuple[Reason, ...] = ()
    charge_id: str | None = None
    qr_svg: str | None = None
    expires_at: float | None = None  # wall clock, for the on-screen countdown
    decision_s: float | None = None

    @property
    def done(self) -> bool:
        """True once paid or failed."""
        return self.outcome != "pending"


class PaymentSession(Protocol):
    """One way of paying, driven by the order flow."""

    method: Method
    uses_camera: bool

    def start(self, order: Order) -> PayView: ...

    def on_frame(self, image: np.ndarray, timestamp: float) -> PayView: ...

    def tick(self) -> PayView: ...

    def enter_digits(self, digits: str) -> PayView: ...

    def void(self) -> PayView: ...

    @property
    def unconfirmed(self) -> bool: ...

    def recheck(self) -> PayView: ...


QR_GRACE_S = 5.0  # after the on-screen expiry, the gateway's own clock may lag this much
UNCONFIRMED = Reason("payment_unconfirmed", "We could not confirm the payment yet")


def _recheck_view(method: Method, result: tuple[str, str | None]) -> PayView:
    """The view after re-sending a charge whose answer was lost."""
    outcome, charge_id = result
    if outcome == "charged":
        return PayView(method, "paid", "paid", "pay.paid", "Paid", charge_id=charge_id,
                       reasons=(Reason("payment_confirmed", "The payment was confirmed"),))
    if outcome == "declined":
        return PayView(method, "failed", "declined", "pay.failed", "Not paid",
                       reasons=(Reason("payment_declined", "The payment did not go through; "
                                       "nothing was charged"),))
    return PayView(method, "failed", "unconfirmed", "pay.failed", "Checking",
                   reasons=(UNCONFIRMED,))


# Quality hints of vision's gates, as message ids of the screen's catalogue.
_HINTS = (("closer", "face.hint.closer"), ("farther", "face.hint.farther"),
          ("light", "face.hint.light"), ("still", "face.hint.still"),
          ("straight", "face.hint.straight"), ("one", "face.hint.one_face"))


class FacePayment:
    """Smile to Pay for one order at a time."""

    method: Method = "face"
    uses_camera = True

    def __init__(self, smile: SmileToPay, *,
                 show_prompt: Callable[[str | None, float], None] | None = None) -> None:
        self._smile = smile
        # An emulated customer sees the prompt on screen before the next frame (emulator only).
        self._show_prompt = show_prompt
        self._view = PayView("face")

    def start(self, order: Order) -> PayView:
        """Begin an attempt for ``order``."""
        return self._update(self._smile.start(order))

    def on_frame(self, image: np.ndarray, timestamp: float) -> PayView:
        """Feed one camera frame."""
        if self._show_prompt is not None:
            self._show_prompt(self._smile.status.action, timestamp)
        return self._update(self._smile.on_frame(image, timestamp))

    def tick(self) -> PayView:
        """Check the digits timeout."""
        return self._update(self._smile.tick())

    def enter_digits(self, digits: str) -> PayView:
        """The customer typed ``digits`` on the keypad."""
        return self._update(self._smile.enter_digits(digits))

    def void(self) -> PayView:
        """Abandon the attempt: frames and the probe leave memory."""
        self._smile.reset()
        self._view = PayView("face", "failed", "voided", "pay.voided", "Cancelled",
                             reasons=(Reason("cancelled", "The payment was cancelled"),))
        return self._view

    @property
    def unconfirmed(self) -> bool:
        """A charge whose answer was lost is waiting to be confirmed."""
        return self._smile.pending_charge is not None

    def recheck(self) -> PayView:
        """Re-send the unconfirmed charge with its key (charged at most once)."""
        return _recheck_view("face", self._smile.recheck_charge())

    def _update(self, status: SmileStatus) -> PayView:
        state = status.state
        outcome: PayOutcome = ("paid" if state is SmileState.CHARGED
                               else "failed" if status.done else "pending")
        self._view = PayView(
            "face", outcome, state.value, _face_prompt_id(status), status.prompt,
            action=status.action, digits_asked=status.digits_asked, reasons=status.reasons,
            charge_id=status.charge_id, decision_s=status.decision_s)
        return self._view


def _face_prompt_id(status: SmileStatus) -> str:
    state = status.state
    if state is SmileState.DIGITS:
        return f"face.digits.{status.digits_asked or 'all'}"
    if state is SmileState.CHARGED:
        return "pay.paid"
    if status.done:
        return "pay.failed"
    if status.action:
        return f"face.action.{status.action}"
    if state in (SmileState.EMBEDDING, SmileState.VERIFYING, SmileState.VERIFIED):
        return "face.checking"
    lower = status.prompt.lower()
    for word, message_id in _HINTS:
        if word in lower:
            return message_id
    return "face.look"


class WalletCodePayment:
    """The customer's wallet payment code, read by the kiosk camera."""

    method: Method = "wallet"
    uses_camera = True

    def __init__(self, qr: KioskQrPayments, decode: Callable[[np.ndarray], list[str | bytes]],
                 *, clock: Callable[[], float], timeout_s: float) -> None:
        self._qr = qr
        self._decode = decode
        self._clock = clock
        self._timeout_s = timeout_s
        self._order: Order | None = None
        self._since = 0.0
        self._view = PayView("wallet")

    def start(self, order: Order) -> PayView:
        """Wait for a code for ``order``."""
        self._order = order
        self._since = self._clock()
        self._view = PayView("wallet", "pending", "scanning", "wallet.show",
                             "Show your wallet's payment code to the camera")
        return self._view

    def on_frame(self, image: np.ndarray, timestamp: float) -> PayView:
        """Look for a payment code in one frame; charge the first one found."""
        if self._order is None or self._view.done:
            return self._view
        payloads = self._decode(image)
        if not payloads:
            return self.tick()
        result = self._qr.pay_with_wallet_code(self._order, payloads[0])
        self._view = _qr_view("wallet", result)
        return self._view

    def tick(self) -> PayView:
        """Give up when no code was shown in time."""
        if (self._order is not None and not self._view.done
                and self._clock() - self._since > self._timeout_s):
            self._view = PayView("wallet", "failed", "timed_out", "pay.failed",
                                 "No payment code was shown", reasons=(Reason(
                                     "no_code_seen", "No payment code was shown in time"),))
        return self._view

    def enter_digits(self, digits: str) -> PayView:
        """Not used by this method."""
        return self._view

    @property
    def unconfirmed(self) -> bool:
        """A charge whose answer was lost is waiting to be confirmed."""
        return self._qr.pending_charge is not None

    def recheck(self) -> PayView:
        """Re-send the unconfirmed charge with its key (charged at most once)."""
        return _recheck_view("wallet", self._qr.recheck_charge())

    def void(self) -> PayView:
        """Stop waiting for a code."""
        self._order = None
        self._view = PayView("wallet", "failed", "voided", "pay.voided", "Cancelled",
                             reasons=(Reason("cancelled", "The payment was cancelled"),))
        return self._view


class MerchantQrPayment:
    """The kiosk's dynamic merchant QR, paid by the customer's phone."""

    method: Method = "qr"
    uses_camera = False

    def __init__(self, qr: KioskQrPayments, *, clock: Callable[[], float],
                 wall_clock: Callable[[], float], expires_in_s: int, poll_s: float) -> None:
        self._qr = qr
        self._clock = clock
        self._wall = wall_clock
        self._expires_in_s = expires_in_s
        self._poll_s = poll_s
        self._order: Order | None = None
        self._next_poll = 0.0
        self._expires_at = 0.0
        self._in_doubt = False  # expired on screen while the gateway could not be asked
        self._view = PayView("qr")

    def start(self, order: Order) -> PayView:
        """Create the order at the gateway and show its QR."""
        from payments.clients.errors import ApiError, BadArgument

        self._order = order
        self._in_doubt = False
        try:
            created = self._qr.create_merchant_order(order, expires_in_s=self._expires_in_s)
        except (ApiError, BadArgument) as exc:
            log.warning("merchant QR: the gateway did not create the order: %s", exc)
            self._view = PayView("qr", "failed", "failed", "pay.failed", "No QR code",
                                 reasons=(Reason("service_unavailable",
                                                 "The payment service could not be reached; "
                                                 "nothing was charged"),))
            return self._view
        self._next_poll = self._clock() + self._poll_s
        self._expires_at = self._wall() + self._expires_in_s
        self._view = PayView("qr", "pending", "waiting", "qr.scan",
                             "Scan this code with your phone to pay",
                             qr_svg=qr_svg(created.qr_payload, label="Payment QR code"),
                             expires_at=self._wall() + self._expires_in_s)
        return self._view

    def on_frame(self, image: np.ndarray, timestamp: float) -> PayView:
        """Not used by this method."""
        return self.tick()

    def tick(self) -> PayView:
        """Ask the gateway whether the phone has paid (at most every ``poll_s``)."""
        if self._order is None or self._view.done or self._clock() < self._next_poll:
            return self._view
        self._next_poll = self._clock() + self._poll_s
        view = self._check()
        if not view.done and self._wall() > self._expires_at + QR_GRACE_S:
            # The code expired on screen and the gateway has not answered since: whether the
            # phone paid in time is unknown until it answers (see recheck).
            self._in_doubt = True
            self._view = PayView("qr", "failed", "unconfirmed", "pay.failed", "Checking",
                                 reasons=(UNCONFIRMED,))
        return self._view

    def enter_digits(self, digits: str) -> PayView:
        """Not used by this method."""
        return self._view

    def void(self) -> PayView:
        """The customer left: the QR is withdrawn at the gateway so nobody can pay it any
        more; a payment that arrived first is kept (the order is paid, not voided)."""
        if self._order is not None and not self._view.done:
            result = self._qr.cancel_merchant_qr(self._order)
            if result.outcome == "paid":
                self._view = _qr_view("qr", result)
                return self._view
            if result.outcome == "pending":  # not withdrawn: the phone may still pay it
                self._in_doubt = True
                self._view = PayView("qr", "failed", "unconfirmed", "pay.failed", "Checking",
                                     reasons=(UNCONFIRMED,))
                return self._view
        self._order = None
        self._view = PayView("qr", "failed", "voided", "pay.voided", "Cancelled",
                             reasons=(Reason("cancelled", "The payment was cancelled"),))
        return self._view

    @property
    def unconfirmed(self) -> bool:
        """The code expired while the gateway could not be asked whether it was paid."""
        return self._in_doubt

    def recheck(self) -> PayView:
        """Withdraw the code at the gateway, which also tells whether the phone paid first."""
        if not self._in_doubt or self._order is None:
            return self._view
        result = self._qr.cancel_merchant_qr(self._order)
        if result.outcome == "pending":
            return PayView("qr", "failed", "unconfirmed", "pay.failed", "Checking",
                           reasons=(UNCONFIRMED,))
        self._in_doubt = False
        if result.outcome == "paid":
            self._view = _qr_view("qr", result)
        else:
            self._view = PayView("qr", "failed", "expired", "pay.failed", "Expired",
                                 reasons=(Reason("qr_expired", "The code on the screen expired; "
                                                 "nothing was charged"),))
        return self._view

    def _check(self) -> PayView:
        assert self._order is not None
        result = self._qr.check_merchant_qr(self._order)
        if result.outcome == "pending":
            return self._view
        self._view = _qr_view("qr", result)
        return self._view


def _qr_view(method: Method, result: QrPayResult) -> PayView:
    if result.outcome == "paid":
        return PayView(method, "paid", "paid", "pay.paid", result.reasons[0].text,
                       reasons=result.reasons, charge_id=result.charge_id)
    return PayView(method, "failed", result.outcome, "pay.failed",
                   result.reasons[0].text if result.reasons else "", reasons=result.reasons)


def describe(view: PayView) -> dict[str, Any]:
    """Plain data of a view (for logs and the JSON form of the screen)."""
    return {"method": view.method, "outcome": view.outcome, "stage": view.stage,
            "prompt_id": view.prompt_id, "action": view.action,
            "digits_asked": view.digits_asked,
            "reason_codes": [r.code for r in view.reasons]}
