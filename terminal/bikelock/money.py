"""A rental's money calls, each with its persisted idempotency key, and what their errors mean.

An answer that never arrived (timeout, broken connection, garbled body) leaves the outcome
unknown: the call is listed in ``Rental.unresolved`` and *looked up* by replaying it with the
same key and the same body, which makes the gateway answer with what it did the first time
(or do it now, once). A 409 or 404 on a hold means it was already settled elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum

from payments.clients.errors import (
    ApiError,
    ConflictError,
    NotFoundError,
    PaymentDeclined,
    ProtocolError,
    ServiceUnavailable,
)
from payments.clients.gateway import GatewayClient, new_idempotency_key
from payments.money import Money
from terminal.bikelock.rental import Rental

log = logging.getLogger(__name__)

#: Errors after which the call may or may not have taken effect.
UNKNOWN_OUTCOME: tuple[type[ApiError], ...] = (ServiceUnavailable, ProtocolError)
#: Errors saying the hold is no longer active: released, captured or expired elsewhere.
HOLD_GONE: tuple[type[ApiError], ...] = (ConflictError, NotFoundError)

FARE_DESCRIPTION = "bike ride fare"


class Outcome(Enum):
    """How one money call ended."""

    DONE = "done"
    DECLINED = "declined"  # 402: the wallet refused
    GONE = "gone"  # 409/404: already settled elsewhere
    UNKNOWN = "unknown"  # no answer: look it up later with the same key


class RentalMoney:
    """Places, finds and releases a rental's deposit hold; charges and captures its fare.

    ``save`` persists the rental (keys are saved before their first use); ``log`` records an
    event for the rental; ``notice`` tells the screen.
    """

    def __init__(
        self,
        gateway: GatewayClient,
        *,
        save: Callable[[Rental], None],
        log_event: Callable[..., None],
        notice: Callable[..., None],
    ) -> None:
        self._gateway = gateway
        self._save = save
        self._log = log_event
        self._notice = notice

    def key(self, rental: Rental, purpose: str) -> str:
        """The idempotency key of one money movement, persisted before its first use."""
        if purpose not in rental.keys:
            rental.keys[purpose] = new_idempotency_key()
            self._save(rental)
        return rental.keys[purpose]

    def _unknown(self, rental: Rental, purpose: str, exc: ApiError) -> Outcome:
        if purpose not in rental.unresolved:
            rental.unresolved.append(purpose)
        self._save(rental)
        log.warning("ride %s: %s sent, answer lost (%s); to be looked up with the same key",
                    rental.ride_id, purpose, exc.code)
        return Outcome.UNKNOWN

    @staticmethod
    def _resolved(rental: Rental, purpose: str) -> None:
        if purpose in rental.unresolved:
            rental.unresolved.remove(purpose)

    # -- the deposit hold ----------------------------------------------------------------

    def place_hold(self, rental: Rental) -> tuple[Outcome, ApiError | None]:
        """Place (or, with the same key, find) the deposit hold; the error when not DONE."""
        assert rental.subject_id is not None
        amount = Money(rental.deposit_minor, rental.currency)
        key = self.key(rental, "hold")
        try:
            hold = self._gateway.place_hold(rental.subject_id, amount, rental.ride_id, key)
        except PaymentDeclined as exc:
            self._resolved(rental, "hold")
            self._save(rental)
            return Outcome.DECLINED, exc
        except UNKNOWN_OUTCOME as exc:
            return self._unknown(rental, "hold", exc), exc
        self._resolved(rental, "hold")
        rental.hold_id = hold.hold_id
        self._save(rental)
        return Outcome.DONE, None

    def release_hold(self, rental: Rental) -> Outcome:
        """Release the rental's hold (if any) without charging it."""
        if rental.hold_id is None:
            return Outcome.DONE
        try:
            self._gateway.release_hold(rental.hold_id, self.key(rental, "release"))
        except HOLD_GONE as exc:
            self._resolved(rental, "release")
            self._notice(f"deposit hold already settled elsewhere ({exc.code})",
                         hold_id=rental.hold_id)
            rental.hold_id = None
            self._save(rental)
            return Outcome.GONE
        except UNKNOWN_OUTCOME as exc:
            return self._unknown(rental, "release", exc)
        self._resolved(rental, "release")
        self._log("deposit.released", rental, amount_minor=rental.deposit_minor,
                  currency=rental.currency)
        self._notice(f"deposit {Money(rental.deposit_minor, rental.currency)} released",
                     hold_id=rental.hold_id)
        rental.hold_id = None
        self._save(rental)
        return Outcome.DONE

    def reconcile(self, rental: Rental) -> bool:
        """Find a hold whose answer was lost, then release what an ended rental still holds.

        True when nothing is held any more; False when the gateway must be asked again later.
        Errors other than lost answers (e.g. a refused API key) propagate.
        """
        if "hold" in rental.unresolved:
            outcome, _ = self.place_hold(rental)  # the same key: finds the earlier hold
            if outcome is Outcome.UNKNOWN:
                return False
            if outcome is Outcome.DONE:
                self._notice(f"found the deposit hold of ride {rental.ride_id} placed while "
                             "the answer was lost", hold_id=rental.hold_id)
        return self.release_hold(rental) is not Outcome.UNKNOWN

    # -- the fare ------------------------------------------------------------------------

    def charge_fare(self, rental: Rental, fare: Money) -> Outcome:
        """Charge the fare; on a decline take it from the deposit (or record it as owed).

        Raises the lost-answer errors so the caller keeps the settlement for a retry (which
        replays the same keys).
        """
        assert rental.subject_id is not None
        if rental.fare_paid_by is not None:
            return Outcome.DONE
        if fare.amount_minor == 0:
            rental.fare_paid_by = "free"
            return Outcome.DONE
        try:
            charge = self._gateway.charge(rental.subject_id, fare, rental.ride_id,
                                          FARE_DESCRIPTION, self.key(rental, "fare"))
        except PaymentDeclined as exc:
            self._resolved(rental, "fare")
            self._log("payment.declined", rental, amount_minor=fare.amount_minor,
                      currency=fare.currency, reason=exc.code, stage="fare")
            return self._fare_from_deposit(rental, fare)
        except ConflictError as exc:
            # This key already charged with another body: the fare was settled elsewhere.
            self._resolved(rental, "fare")
            rental.fare_paid_by = "elsewhere"
            self._notice(f"fare already settled elsewhere ({exc.code})")
            self._save(rental)
            return Outcome.GONE
        except UNKNOWN_OUTCOME as exc:
            self._unknown(rental, "fare", exc)
            raise
        self._resolved(rental, "fare")
        rental.charge_id = charge.charge_id
        rental.fare_paid_by = "charge"
        self._log("payment.captured", rental, amount_minor=fare.amount_minor,
                  currency=fare.currency, charge_id=charge.charge_id)
        self._save(rental)
        return Outcome.DONE

    def _fare_from_deposit(self, rental: Rental, fare: Money) -> Outcome:
        if rental.hold_id is None:
            rental.fare_paid_by = "unpaid"
            self._save(rental)
            return Outcome.DECLINED
        try:
            capture = self._gateway.capture_hold(rental.hold_id, fare,
                                                 self.key(rental, "capture"))
        except HOLD_GONE as exc:
            self._resolved(rental, "capture")
            self._notice(f"deposit hold already settled elsewhere ({exc.code}); fare owed",
                         hold_id=rental.hold_id)
            rental.hold_id = None
            rental.fare_paid_by = "unpaid"
            self._save(rental)
            return Outcome.GONE
        except UNKNOWN_OUTCOME as exc:
            self._unknown(rental, "capture", exc)
            raise
        self._resolved(rental, "capture")
        rental.charge_id = capture.charge_id
        rental.fare_paid_by = "deposit"
        self._log("deposit.captured", rental, amount_minor=fare.amount_minor,
                  currency=fare.currency, reason="fare_declined")
        rental.hold_id = None  # capture releases the rest of the hold
        self._save(rental)
        return Outcome.DONE

