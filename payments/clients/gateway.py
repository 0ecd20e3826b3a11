"""Client of the payment gateway: payment codes, deposit holds, charges and refunds.

Every call that moves money or consumes a code takes an idempotency key. The caller creates
it once per operation with :func:`new_idempotency_key`, persists it before the first send, and
passes the same key again when it repeats the operation (after a restart, say); this client
sends that same key on each of its own retries, so the gateway performs the operation once.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

from payments.clients.errors import BadArgument
from payments.clients.http import ServiceClient
from payments.clients.models import Charge, Hold, Refund, ResolvedCode
from payments.clients.parse import Fields
from payments.clients.score import check_identifier
from payments.money import Money

_KEY_RE = re.compile(r"[A-Za-z0-9_\-.:]{8,255}")
MAX_CODE_CHARS = 4096


def new_idempotency_key() -> str:
    """A fresh idempotency key (``idk_`` + 32 hex digits) for one operation."""
    return f"idk_{uuid.uuid4().hex}"


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise BadArgument("idempotency_key must be 8..255 characters of A-Z a-z 0-9 _ - . :")
    return key


def _check_amount(amount: object, what: str = "amount") -> Money:
    if not isinstance(amount, Money):
        raise BadArgument(f"{what} must be Money, got {type(amount).__name__}")
    if amount.amount_minor <= 0:
        raise BadArgument(f"{what} must be positive, got {amount}")
    return amount


def _check_text(value: object, what: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadArgument(f"{what} must be a non-empty string of at most {limit} characters")
    return value


class GatewayClient(ServiceClient):
    """Talks to the payment gateway; safe to share between threads."""

    SERVICE = "payment gateway"

    def _post(self, path: str, body: dict[str, Any], key: str, what: str) -> Fields:
        response = self._http.request("POST", path, json_body=body, idempotency_key=key)
        return Fields(response.body, what=what, request_id=response.request_id)

    def resolve_code(self, code_text: str, idempotency_key: str) -> ResolvedCode:
        """Check a scanned payment code and mark it used; :class:`CodeRejected` if unusable."""
        if not isinstance(code_text, str) or not code_text or len(code_text) > MAX_CODE_CHARS:
            raise BadArgument(f"payment code must be 1..{MAX_CODE_CHARS} characters of text")
        f = self._post(
            "/v1/payment-codes/resolve", {"code": code_text}, _check_key(idempotency_key),
            "resolve response",
        )
        return ResolvedCode(
            f.text("subject_id"), f.text("code_id"), f.time("expires_at", optional=True)
        )

    def place_hold(
        self, subject_id: str, amount: Money, reference: str, idempotency_key: str
    ) -> Hold:
        """Hold a deposit; :class:`PaymentDeclined` when the account cannot cover it."""
        body = {
            "subject_id": check_identifier(subject_id, "subject_id"),
            "amount": _check_amount(amount).to_json(),
            "reference": _check_text(reference, "reference"),
        }
        f = self._post("/v1/holds", body, _check_key(idempotency_key), "hold response")
        return Hold(f.text("hold_id"), f.text("status"), f.money("amount", optional=True) or amount)

    def capture_hold(self, hold_id: str, amount: Money, idempotency_key: str) -> Hold:
        """Capture up to the held amount; :class:`ConflictError` if the hold is not active."""
        path = f"/v1/holds/{quote(check_identifier(hold_id, 'hold_id'), safe='')}/capture"
        body = {"amount": _check_amount(amount).to_json()}
        f = self._post(path, body, _check_key(idempotency_key), "capture response")
        return Hold(f.text("hold_id"), f.text("status"), amount, f.text("charge_id"))

    def release_hold(self, hold_id: str, idempotency_key: str) -> Hold:
        """Release a hold without charging it."""
        path = f"/v1/holds/{quote(check_identifier(hold_id, 'hold_id'), safe='')}/release"
        f = self._post(path, {}, _check_key(idempotency_key), "release response")
        return Hold(f.text("hold_id"), f.text("status"))

    def charge(
        self,
        subject_id: str,
        amount: Money,
        reference: str,
        description: str,
        idempotency_key: str,
    ) -> Charge:
        """Charge the subject now; :class:`PaymentDeclined` when it cannot pay."""
        body = {
            "subject_id": check_identifier(subject_id, "subject_id"),
            "amount": _check_amount(amount).to_json(),
            "reference": _check_text(reference, "reference"),
            "description": _check_text(description, "description", 500),
        }
        f = self._post("/v1/charges", body, _check_key(idempotency_key), "charge response")
        return Charge(
            f.text("charge_id"), f.text("status"), f.money("amount", optional=True) or amount
        )

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> Refund:
        """Refund part or all of a charge; :class:`ConflictError` if it exceeds the charge."""
        body = {
            "charge_id": check_identifier(charge_id, "charge_id"),
            "amount": _check_amount(amount).to_json(),
        }
        f = self._post("/v1/refunds", body, _check_key(idempotency_key), "refund response")
        return Refund(
            f.text("refund_id"), f.text("charge_id"), f.text("status"),
            f.money("amount", optional=True) or amount,
        )
