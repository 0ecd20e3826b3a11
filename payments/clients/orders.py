"""Client of the gateway's orders: the kiosk's dynamic QR and its payment status.

The kiosk creates an order (:meth:`OrderClient.create_order`), shows ``Order.qr_payload`` as a
QR code, and waits with :func:`wait_for_order` until the order is paid or expired.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from payments.clients.errors import BadArgument, ServiceUnavailable
from payments.clients.http import Clock, ServiceClient, Sleep
from payments.clients.parse import Fields
from payments.money import Money

log = logging.getLogger(__name__)

OrderStatus = Literal["pending", "paid", "expired"]
_STATUSES = ("pending", "paid", "expired")
_REFERENCE_RE = re.compile(r"[A-Za-z0-9]{1,25}")
_KEY_RE = re.compile(r"[A-Za-z0-9_\-.:]{8,255}")


@dataclass(frozen=True)
class Order:
    """One order as the gateway reports it."""

    order_id: str
    reference: str
    status: OrderStatus
    amount: Money
    expires_at: str
    qr_payload: str
    paid_at: str | None = None


def _reference(reference: object) -> str:
    if not isinstance(reference, str) or not _REFERENCE_RE.fullmatch(reference):
        raise BadArgument("an order reference is 1-25 letters and digits")
    return reference


class OrderClient(ServiceClient):
    """Creates and reads orders on the payment gateway; safe to share between threads."""

    SERVICE = "payment gateway"

    def create_order(self, amount: Money, reference: str, idempotency_key: str, *,
                     expires_in_s: int = 300) -> Order:
        """Create an order; ``ConflictError`` (``order_exists``) if the reference is taken."""
        if not isinstance(amount, Money) or amount.amount_minor <= 0:
            raise BadArgument("amount must be positive Money")
        if not isinstance(idempotency_key, str) or not _KEY_RE.fullmatch(idempotency_key):
            raise BadArgument("idempotency_key must be 8..255 characters of A-Z a-z 0-9 _ - . :")
        if isinstance(expires_in_s, bool) or not isinstance(expires_in_s, int):
            raise BadArgument("expires_in_s must be an integer number of seconds")
        body = {"amount": amount.to_json(), "reference": _reference(reference),
                "expires_in_s": expires_in_s}
        response = self._http.request("POST", "/v1/orders", json_body=body,
                                      idempotency_key=idempotency_key)
        return _order(Fields(response.body, what="order response",
                             request_id=response.request_id))

    def get_order(self, reference: str) -> Order:
        """The order's current status; ``NotFoundError`` (``unknown_order``) if there is none."""
        path = f"/v1/orders/{quote(_reference(reference), safe='')}"
        response = self._http.request("GET", path)
        return _order(Fields(response.body, what="order response",
                             request_id=response.request_id))


    def cancel_order(self, reference: str) -> Order:
        """Withdraw an unpaid order so its QR can no longer be paid (it reads ``expired``).

        Safe to repeat; :class:`ConflictError` (``order_already_paid``) if the customer paid
        first — then the money arrived and the order stands.
        """
        path = f"/v1/orders/{quote(_reference(reference), safe='')}/cancel"
        response = self._http.request("POST", path, json_body={}, idempotent=True)
        return _order(Fields(response.body, what="order response",
                             request_id=response.request_id))


def _order(f: Fields) -> Order:
    status = f.text("status")
    if status not in _STATUSES:
        raise f.error("status", f"must be one of {', '.join(_STATUSES)}")
    amount = f.money("amount")
    assert amount is not None
    return Order(order_id=f.text("order_id"), reference=f.text("reference"), status=status,
                 amount=amount, expires_at=f.text("expires_at"), qr_payload=f.text("qr_payload"),
                 paid_at=f.text("paid_at", optional=True))


def wait_for_order(client: OrderClient, ref: str, *, clock: Clock, sleep: Sleep,
                   deadline_s: float, interval_s: float) -> Order:
    """Poll the order until it is paid or expired, or ``deadline_s`` has passed.

    Returns the last order read (still ``pending`` when the deadline passed first). A
    :class:`ServiceUnavailable` during polling is logged and polled through until the deadline;
    if no read ever succeeded, the last one is raised.
    """
    if not (deadline_s > 0 and interval_s > 0):
        raise BadArgument("deadline_s and interval_s must be positive")
    end = clock() + deadline_s
    last: Order | None = None
    while True:
        try:
            last = client.get_order(ref)
        except ServiceUnavailable as exc:
            log.warning("order %s: status poll failed (%s); still waiting", ref, exc.code)
            if clock() + interval_s > end:
                if last is None:
                    raise
                return last
        else:
            if last.status != "pending":
                return last
        left = end - clock()
        if left <= 0:
            assert last is not None
            return last
        sleep(min(interval_s, left))
