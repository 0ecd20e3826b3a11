"""The bike-lock unit: one rental at a time, driven by a scanned code and the lock's latch.

Steps (see :mod:`terminal.bikelock.states` for the table)::

    idle → code seen → payer resolved → score checked → deposit decided → (hold placed)
         → unlocked → riding → lock closed → settled (fare charged, deposit released) → idle

with rejected (bad code), declined (policy or gateway), abandoned (bike never taken) and failed
(lock or back end) endings. The rental model is journalled after every step and every money
movement uses an idempotency key persisted before its first send, so :meth:`resume` after a
power loss finishes what was started without charging twice.

Faults it survives: a money call whose answer was lost is looked up by replaying it with the
same key (:mod:`terminal.bikelock.money`), at once and then from :meth:`tick` until the gateway
answers, and a hold found for an ended rental is released; the intent to unlock is journalled
before the latch is pulsed, so a restart that finds the latch open resumes a ride (never a free
bike); events get ids derived from the ride and their kind, so one re-emitted after a crash is
stored once; every rental a restart finds unfinished ends or resumes, so the unit serves the
next rider.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hardware.errors import LockError, LockJammedError
from hardware.ports import Beep, Indicator, IndicatorState, Lock
from payments.clients.errors import (
    ApiError,
    CodeRejected,
    NotFoundError,
    ServiceUnavailable,
)
from payments.clients.gateway import GatewayClient, new_idempotency_key
from payments.clients.models import ScoreReport
from payments.clients.score import ScoreClient
from payments.events import derived_event_id, make_event
from payments.fare import FareRules, fare_for
from payments.money import Money
from payments.outbox import Outbox
from payments.paycode import PaymentCodeError, ReplayGuard, check_locally, parse_code
from payments.policy import DepositRules, decide_deposit
from terminal.bikelock.journal import RentalJournal
from terminal.bikelock.lights import UnitLights
from terminal.bikelock.money import UNKNOWN_OUTCOME, Outcome, RentalMoney
from terminal.bikelock.receipt import ride_receipt
from terminal.bikelock.rental import Rental
from terminal.bikelock.states import BUSY_STATES, END_STATES, TRANSITIONS, RideEvent, RideState
from terminal.statemachine import StateMachine, Transition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnitSettings:
    """What a bike-lock unit needs to know besides its devices and services."""

    terminal_id: str
    deposit: DepositRules
    fare: FareRules
    # Relock and release the deposit if the bike is not taken within this time after unlock.
    unlock_window_s: float = 60.0
    # Rides longer than this end as late returns (the score service counts those).
    on_time_limit_s: float = 24 * 3600.0
    # How often tick() asks the gateway again about holds of ended rentals it could not settle.
    reconcile_retry_s: float = 30.0
    # Below this battery charge (percent, when the lock reports one) no new ride starts.
    low_battery_pct: float = 15.0


@dataclass(frozen=True)
class Notice:
    """One line of what the unit did, for a screen, a transcript or a log."""

    state: RideState
    text: str
    data: dict[str, Any]


class BikeLockUnit:
    """Runs rentals on one lock. Thread-safe: the lock's callbacks may come from other threads."""

    def __init__(
        self,
        settings: UnitSettings,
        *,
        lock: Lock,
        gateway: GatewayClient,
        score: ScoreClient,
        outbox: Outbox,
        journal: RentalJournal,
        clock: Callable[[], float],
        indicator: Indicator | None = None,
        replay_guard: ReplayGuard | None = None,
        on_notice: Callable[[Notice], None] | None = None,
    ) -> None:
        self._settings = settings
        self._lock = lock
        self._gateway = gateway
        self._score = score
        self._outbox = outbox
        self._journal = journal
        self._clock = clock
        self._guard = replay_guard or ReplayGuard(capacity=10_000, clock=clock)
        self._on_notice = on_notice
        self._mutex = threading.RLock()
        self._machine: StateMachine[RideState, RideEvent] = StateMachine(
            TRANSITIONS, RideState.IDLE, clock=clock, on_transition=self._moved
        )
        self._rental: Rental | None = None
        self.last: Rental | None = None
        self.events_logged = 0
        self._money = RentalMoney(gateway, save=self._save, log_event=self._log,
                                  notice=self._notice)
        # When tick() next reconciles ended rentals that may hold money (now: at the first tick).
        self._reconcile_at = float("-inf")
        # A service action (an operator's remote unlock): no rides until the latch closes or
        # a remote lock; ``lock_fault`` is the last unlock that failed ("jammed" or "fault"),
        # until the latch is next seen open.
        self._in_service = False
        self.lock_fault: str | None = None
        self._find_until = float("-inf")
        self._lights = UnitLights(indicator)
        self._unsubscribe = [lock.on_opened(self.latch_opened), lock.on_closed(self.latch_closed)]
        self._lights.state(RideState.IDLE, battery_low=self.battery_low)

    # -- state ---------------------------------------------------------------------------------

    @property
    def state(self) -> RideState:
        """Where the current rental stands (IDLE when none)."""
        return self._machine.state

    @property
    def rental(self) -> Rental | None:
        """The rental in progress, if any."""
        return self._rental

    @property
    def battery_low(self) -> bool:
        """True when the lock reports a charge below ``low_battery_pct`` (False: no gauge)."""
        level = self._lock.battery
        return level is not None and level < self._settings.low_battery_pct

    @property
    def in_service(self) -> bool:
        """True after an operator's remote unlock, until the latch closes or a remote lock."""
        return self._in_service

    @property
    def lock(self) -> Lock:
        """The lock this unit drives."""
        return self._lock

    def close(self) -> None:
        """Stop listening to the lock; safe to call twice."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    # -- inputs ----------------------------------------------------------------------------------

    def present_code(self, text: str | bytes) -> Rental:
        """Handle a payment code the camera read; returns the rental as far as it got."""
        with self._mutex:
            if self._rental is not None:
                self._notice(f"busy with ride {self._rental.ride_id}; code ignored",
                             ignored=True)
                return self._rental
            now = self._clock()
            rental = Rental(ride_id=f"ride_{uuid.uuid4().hex[:16]}", started_at=now,
                            currency=self._settings.fare.currency)
            rental.keys["resolve"] = new_idempotency_key()
            self._rental = rental
            self._fire(RideEvent.CODE_SCANNED, "payment code seen")
            if self._in_service:
                self._reject(rental, "in_service",
                             "This bike is being serviced and cannot start a ride now. Your "
                             "code was not used: please take another bike.")
                return self._finish()
            level = self._lock.battery
            if level is not None and level < self._settings.low_battery_pct:
                # Before the code is checked: it is not used up and works at another bike.
                self._reject(rental, "low_battery",
                             f"This bike's battery is low ({level:.0f}%), so it cannot start a "
                             "ride now. Your code was not used: please take another bike.")
                return self._finish()
            if not self._accept_code(rental, text):
                return self._finish()
            if not self._check_score_and_decide(rental):
                return self._finish()
            if rental.outcome == "required" and not self._place_hold(rental):
                return self._finish()
            self._unlock(rental)
            if self._machine.state in END_STATES:
                return self._finish()
            return rental

    def latch_opened(self) -> None:
        """The latch opened (the rider took the bike)."""
        with self._mutex:
            self.lock_fault = None
            if self._rental is None and not self._in_service:
                # Opened without a ride (by hand, a tool): not available until it closes.
                self._in_service = True
                self._notice("latch opened without a ride: out of service until it is closed",
                             service=True)
            if self._machine.state is RideState.UNLOCKED:
                self._fire(RideEvent.BIKE_TAKEN, "bike taken; ride timing")

    def latch_closed(self) -> None:
        """The latch closed (the rider returned the bike): end the ride and settle."""
        with self._mutex:
            if self._in_service and self._rental is None:
                self._in_service = False
                self._notice("latch closed: service over, the bike is available again",
                             service=False)
            if self._machine.state is not RideState.RIDING or self._rental is None:
                return
            rental = self._rental
            if rental.closed_at is None:  # journalled first: a restart keeps this end time
                rental.closed_at = self._clock()
                self._save(rental)
            duration = max(0.0, rental.closed_at - (rental.unlocked_at or rental.closed_at))
            fare = fare_for(self._settings.fare, duration)
            rental.fare_minor = fare.amount.amount_minor
            on_time = duration <= self._settings.on_time_limit_s
            self._log("ride.ended", rental, duration_s=int(duration), blocks=fare.blocks,
                      on_time=on_time,
                      fare_minor=fare.amount.amount_minor, currency=fare.amount.currency)
            self._fire(RideEvent.LOCK_CLOSED, f"lock closed after {duration / 60:.1f} min; "
                       f"fare {fare.describe()}", duration_s=duration,
                       fare_minor=fare.amount.amount_minor)
            self.settle()

    def tick(self) -> None:
        """Check time-outs (release if the bike was not taken in time) and reconcile holds."""
        with self._mutex:
            rental = self._rental
            if self._machine.state is RideState.UNLOCKED and rental is not None and (
                self._clock() - (rental.unlocked_at or 0.0) >= self._settings.unlock_window_s
            ):
                self._money.release_hold(rental)  # lost answer: reconciled once it has ended
                self._fire(RideEvent.NOT_TAKEN, "bike not taken in time; ride cancelled, no fare")
                self._finish()
            if self._rental is None and self._clock() >= self._reconcile_at:
                self.reconcile()
            if self._machine.state is RideState.IDLE and self._clock() >= self._find_until:
                self._lights.state(RideState.IDLE, battery_low=self.battery_low)  # may run low

    def reconcile(self) -> int:
        """Find and release what ended rentals may still hold; returns how many were closed.

        A rental whose hold answer was lost is looked up with the same key; when the gateway
        cannot be reached the next try is ``reconcile_retry_s`` later.
        """
        closed = 0
        with self._mutex:
            for rental in self._journal.money_open():
                try:
                    done = self._money.reconcile(rental)
                except ApiError as exc:  # e.g. a refused key: ask again later
                    log.warning("ride %s: reconciling failed: %s", rental.ride_id, exc)
                    done = False
                if not done:
                    self._reconcile_at = self._clock() + self._settings.reconcile_retry_s
                    return closed
                closed += 1
            self._reconcile_at = float("inf")  # until a rental ends holding money
        return closed

    # -- service actions (an operator's remote commands) ------------------------------------

    def service_unlock(self) -> tuple[str, str]:
        """Open the latch for the operator: no fare, no deposit, no ride; ``(status, detail)``
        with status ``done``, ``refused`` (a rental is under way) or ``failed`` (the lock)."""
        with self._mutex:
            if self._rental is not None:
                return "refused", (f"a rental is under way ({self._machine.state.value}); "
                                   "the bike is not unlocked remotely during a ride")
            if not self._lock.is_closed:
                self._in_service = True
                return "done", "the latch is already open; the bike stays in service"
            self._in_service = True  # before the latch moves: its opening is no ride
            try:
                self._lock.unlock()
            except LockError as exc:
                self._in_service = False
                self.lock_fault = "jammed" if isinstance(exc, LockJammedError) else "fault"
                log.error("ALARM service unlock at %s: the lock did not open (%s)",
                          self._settings.terminal_id, exc)
                self._notice(f"remote unlock: the lock did not open ({exc})",
                             reason=f"lock_{self.lock_fault}")
                return "failed", f"the lock did not open: {exc}"
            self._notice("unlocked remotely by the operator: in service, no ride",
                         service=True)
            return "done", "unlocked for service; no fare, no deposit"

    def service_lock(self) -> tuple[str, str]:
        """End a service unlock: ``done`` when the latch is closed (the bike is available
        again), ``failed`` while it is open (a latch locks when pushed shut) or in a ride."""
        with self._mutex:
            if self._rental is not None:
                return "refused", (f"a rental is under way ({self._machine.state.value}); "
                                   "it ends when the rider closes the lock")
            if not self._lock.is_closed:
                return "failed", ("the latch is open; it locks when pushed shut, and the bike "
                                  "is available again then")
            was = self._in_service
            self._in_service = False
            if was:
                self._notice("locked remotely: service over, the bike is available again",
                             service=False)
            return "done", "locked" + ("; service over" if was else "")

    def find(self, seconds: float = 30.0) -> None:
        """Help someone find the bike: beep and flash the light for ``seconds``."""
        with self._mutex:
            self._lights.beep(Beep.DECLINED)
            if self._machine.state is RideState.IDLE:
                self._find_until = self._clock() + seconds
                self._lights.show(IndicatorState.ATTENTION)

    # -- settlement -------------------------------------------------------------------------------

    def settle(self) -> bool:
        """Charge the fare and release the deposit; False if the back end must be retried."""
        with self._mutex:
            rental = self._rental
            if self._machine.state is not RideState.LOCK_CLOSED or rental is None:
                return False
            try:
                self._money.charge_fare(rental, Money(rental.fare_minor or 0,
                                                      self._settings.fare.currency))
                if self._money.release_hold(rental) is Outcome.UNKNOWN:
                    raise ServiceUnavailable(None, "release_unknown",
                                             "the deposit release was not answered")
            except ApiError as exc:  # lost answers, or a refusal to ask about again later
                rental.failure = f"settlement pending: {exc.message}"
                self._save(rental)
                what = ("payment service unreachable" if isinstance(exc, UNKNOWN_OUTCOME)
                        else "payment service refused the settlement")
                self._notice(f"{what}; settlement kept for retry ({exc.code})", pending=True)
                return False
            paid = {"charge": "charged", "deposit": "taken from the deposit",
                    "unpaid": "declined; recorded as owed", "free": "no fare",
                    "elsewhere": "already settled elsewhere"}
            self._fire(RideEvent.SETTLED, f"fare {paid.get(rental.fare_paid_by or '', '?')}",
                       fare_paid_by=rental.fare_paid_by,
                       receipt=ride_receipt(rental, fare_currency=self._settings.fare.currency))
            self._finish()
            return True

    # -- resume after a restart ------------------------------------------------------------------

    def resume(self) -> list[Rental]:
        """Finish rentals a power loss interrupted, then reconcile; returns those it touched."""
        touched = []
        with self._mutex:
            for rental in self._journal.unfinished():
                touched.append(rental)
                self._rental = rental
                self._machine.restore(rental.state)
                self._notice(f"resuming ride {rental.ride_id} from {rental.state.value}")
                try:
                    self._resume_one(rental)
                except UNKNOWN_OUTCOME as exc:
                    self._notice(f"back end unreachable while resuming ({exc.code}); will retry")
                if self._machine.state in END_STATES and self._rental is rental:
                    self._finish()
            if self._rental is None and not self._lock.is_closed and not self._in_service:
                self._in_service = True  # open with no ride to resume: not available
                self._notice("the latch is open with no ride: out of service until it is "
                             "closed", service=True)
            if self._rental is None:
                self.reconcile()
        return touched

    def _resume_one(self, rental: Rental) -> None:
        state, latch_open = rental.state, not self._lock.is_closed
        if state is RideState.RIDING and not latch_open:
            self.latch_closed()
        elif state is RideState.LOCK_CLOSED:
            self.settle()
        elif state is RideState.UNLOCKED and latch_open:
            self.latch_opened()
        elif state is RideState.UNLOCKING and latch_open:
            # The latch was pulsed before the crash and is open: the bike is out, so it's a ride.
            self._unlocked(rental, rental.unlock_requested_at or self._clock())
        elif state in (RideState.UNLOCKED, RideState.RIDING):
            return  # still waiting for the rider; the lock callbacks and tick() continue
        else:
            # Interrupted before the bike was unlocked: end the rental, return any hold.
            sent = "hold" in rental.keys and rental.outcome == "required"
            if sent and rental.hold_id is None and "hold" not in rental.unresolved:
                rental.unresolved.append("hold")  # sent, answer unknown: look it up
            if state is RideState.UNLOCKING:  # pulsed or not, the latch is shut now
                log.warning("ride %s: power lost while unlocking; the latch is shut, so no "
                            "ride is charged (operator: check bike at %s)", rental.ride_id,
                            self._settings.terminal_id)
            self._fail(rental, "interrupted", "interrupted before unlock; nothing charged")

    # -- steps -----------------------------------------------------------------------------------

    def _accept_code(self, rental: Rental, text: str | bytes) -> bool:
        try:
            code = parse_code(text)
            check_locally(code, now=self._clock())
            self._guard.check_and_remember(code)
        except PaymentCodeError as exc:
            self._reject(rental, exc.code, exc.message)
            return False
        rental.code_id = code.code_id
        try:
            try:
                resolved = self._gateway.resolve_code(code.text, rental.keys["resolve"])
            except UNKNOWN_OUTCOME:  # the code may be used up now: ask again with the same key
                resolved = self._gateway.resolve_code(code.text, rental.keys["resolve"])
        except CodeRejected as exc:
            self._reject(rental, exc.code, exc.message)
            return False
        except ApiError as exc:
            self._fail(rental, exc.code, f"payment service: {exc.message}")
            return False
        rental.subject_id = resolved.subject_id
        self._fire(RideEvent.CODE_ACCEPTED, "payer resolved", subject_id=resolved.subject_id)
        return True

    def _check_score_and_decide(self, rental: Rental) -> bool:
        assert rental.subject_id is not None
        report: ScoreReport | None = None
        try:
            report = self._score.get_score(rental.subject_id, purpose="deposit_decision")
        except ServiceUnavailable as exc:
            rental.score_offline = True
            self._fire(RideEvent.SCORE_UNAVAILABLE, f"score service unreachable ({exc.code}); "
                       f"offline rule '{self._settings.deposit.offline_rule}' applies")
        except NotFoundError:
            self._fire(RideEvent.SCORE_UNAVAILABLE, "the score service has no score for this rider")
        except ApiError as exc:
            self._fail(rental, exc.code, f"score service: {exc.message}")
            return False
        if report is not None:
            rental.score = report.score
            self._fire(RideEvent.SCORE_RECEIVED, f"score {report.score}", score=report.score,
                       restrictions=sorted(report.restriction_codes()))
        decision = decide_deposit(self._settings.deposit, report, offline=rental.score_offline)
        rental.outcome = decision.outcome
        # The decision in a sentence, then its reasons: the scored factors that cost (or
        # helped) the most with their events, a restriction with its origin, or "offline".
        rental.summary = decision.headline.to_json()
        rental.reasons = [r.to_json() for r in decision.reasons]
        if decision.deposit is not None:
            rental.deposit_minor = decision.deposit.amount_minor
            rental.currency = decision.deposit.currency
        reasons = {"summary": rental.summary, "reasons": rental.reasons}
        if decision.outcome == "declined":
            # Logged so its reasons reach the event log and the person's report (scores 0).
            self._log("deposit.declined", rental, reason_codes=_codes(rental))
            self._fire(RideEvent.RIDE_DECLINED, "ride declined", **reasons)
            return False
        if decision.outcome == "waived":
            self._log("deposit.waived", rental, reason_codes=_codes(rental))
            self._fire(RideEvent.DEPOSIT_WAIVED, "no deposit needed", **reasons)
        else:
            self._fire(RideEvent.DEPOSIT_REQUIRED,
                       f"deposit of {decision.deposit} required", **reasons)
        return True

    def _place_hold(self, rental: Rental) -> bool:
        assert rental.subject_id is not None
        amount = Money(rental.deposit_minor, rental.currency)
        try:
            outcome, error = self._money.place_hold(rental)
            if outcome is Outcome.UNKNOWN:  # look it up at once: replay with the same key
                outcome, error = self._money.place_hold(rental)
        except ApiError as exc:  # refused outright (bad key, bad request): nothing held
            self._fail(rental, exc.code, f"payment service: {exc.message}")
            return False
        if outcome is Outcome.DECLINED:
            code = error.code if error is not None else "payment_declined"
            self._log("payment.declined", rental, amount_minor=amount.amount_minor,
                      currency=amount.currency, reason=code, stage="deposit")
            rental.reasons = [*rental.reasons[:3],
                              {"code": "deposit_declined",
                               "text": "Your wallet declined the deposit hold."}]
            self._fire(RideEvent.HOLD_DECLINED, f"deposit hold declined ({code})")
            return False
        if outcome is Outcome.UNKNOWN:
            assert error is not None
            self._fail(rental, error.code, "payment service did not answer; any deposit held "
                       "is released as soon as it does")
            self._reconcile_at = self._clock() + self._settings.reconcile_retry_s
            return False
        self._log("deposit.held", rental, amount_minor=amount.amount_minor,
                  currency=amount.currency, hold_id=rental.hold_id,
                  reason_codes=_codes(rental))
        self._fire(RideEvent.HOLD_PLACED, f"deposit {amount} held", hold_id=rental.hold_id)
        return True

    def _unlock(self, rental: Rental) -> None:
        rental.unlock_requested_at = self._clock()
        self._machine.fire(RideEvent.UNLOCK_REQUESTED)  # journalled before the latch moves
        try:
            self._lock.unlock()
        except LockError as exc:
            # The rental is voided and the deposit released; the alarm tells the operator a
            # paid rider met a lock that would not open (a jam or a wiring fault).
            reason = "lock_jammed" if isinstance(exc, LockJammedError) else "lock_fault"
            self.lock_fault = "jammed" if isinstance(exc, LockJammedError) else "fault"
            log.error("ALARM ride %s at %s: the lock did not open (%s); rental voided, deposit "
                      "released; check the lock", rental.ride_id, self._settings.terminal_id,
                      exc)
            self._log("unlock.failed", rental, reason=reason, alarm=True)
            self._machine.fire(RideEvent.UNLOCK_FAILED)
            rental.failure = f"lock did not open: {exc}"
            rental.reasons = [{"code": reason, "text": "The lock did not open. Nothing was "
                               "charged and any deposit is released; please take another bike."}]
            self._notice(f"lock did not open ({exc}); nothing charged", reason=reason,
                         reasons=rental.reasons)
            self._money.release_hold(rental)  # lost answer: reconciled once it has ended
            return
        self._unlocked(rental, self._clock())

    def _unlocked(self, rental: Rental, at: float) -> None:
        rental.unlocked_at = at
        self._log("ride.started", rental)
        self._fire(RideEvent.UNLOCKED, "unlocked")
        self._lights.beep(Beep.OK)  # approved: take the bike
        if not self._lock.is_closed:
            self.latch_opened()

    # -- helpers ---------------------------------------------------------------------------------

    def _reject(self, rental: Rental, code: str, message: str) -> None:
        rental.failure = code
        rental.reasons = [{"code": code, "text": message}]
        self._log("code.rejected", rental, reason=code)
        self._fire(RideEvent.CODE_REJECTED, f"code rejected: {message}", reason=code)

    def _fail(self, rental: Rental, code: str, message: str) -> None:
        rental.failure = code
        rental.reasons = [{"code": code, "text": message}]
        if self._machine.can(RideEvent.ERROR):
            self._fire(RideEvent.ERROR, message, reason=code)
        else:
            self._notice(message, reason=code)

    def _fire(self, event: RideEvent, text: str, **data: Any) -> None:
        self._machine.fire(event)
        self._notice(text, **data)

    def _moved(self, step: Transition[RideState, RideEvent]) -> None:
        if self._rental is not None:
            self._rental.state = step.target
            self._save(self._rental)
        self._lights.state(step.target, battery_low=self.battery_low)

    def _notice(self, text: str, **data: Any) -> None:
        log.info("%s: %s", self._machine.state.value, text)
        if self._on_notice is not None:
            self._on_notice(Notice(self._machine.state, text, data))

    def _log(self, type_: str, rental: Rental, **attributes: Any) -> None:
        # One event of a kind (and stage) per ride: the same id when re-emitted after a crash.
        parts = [self._settings.terminal_id, rental.ride_id, type_]
        if "stage" in attributes:
            parts.append(str(attributes["stage"]))
        event = make_event(type_, terminal_id=self._settings.terminal_id,
                           subject_id=rental.subject_id,
                           attributes={"ride_id": rental.ride_id, **attributes},
                           clock=self._clock, event_id=derived_event_id(*parts))
        if self._outbox.append(event):
            self.events_logged += 1

    def _save(self, rental: Rental) -> None:
        self._journal.save(rental, now=self._clock())

    def _finish(self) -> Rental:
        rental = self._rental
        assert rental is not None
        self._lights.ended(rental.state)
        self.last = rental
        self._rental = None
        self._machine.fire(RideEvent.RESET)
        if rental.money_open and self._reconcile_at == float("inf"):
            self._reconcile_at = self._clock()  # unless a retry is already scheduled
        return rental


__all__ = ["BUSY_STATES", "BikeLockUnit", "Notice", "UnitSettings"]


def _codes(rental: Rental) -> str:
    """The decision's reason codes for its event (codes only: never words or numbers)."""
    return ",".join(str(r["code"]) for r in rental.reasons)
