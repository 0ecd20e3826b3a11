"""Smile to Pay at the kiosk: an explicit state machine driven frame by frame.

A face appears, passes the quality gates and answers a randomised liveness challenge (the
prompts are text for the screen); its embedding is taken from good frames of the same session;
the risk rule (:mod:`payments.smile_policy`) decides how many phone digits to ask; the gateway
matches the probe 1:1 against the accounts those digits name; a match is charged.

The terminal keeps no embedding after the attempt and sends no image anywhere. Events carry
reason codes and ids only — no biometrics, no phone digits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from payments.clients.errors import ApiError, BadArgument, PaymentDeclined
from payments.clients.face import CandidateCount, FaceMatch
from payments.clients.gateway import new_idempotency_key
from payments.clients.models import Charge
from payments.events import Event, derived_event_id, make_event
from payments.money import Money
from payments.policy import MAX_REASONS, Reason
from payments.smile_policy import (
    DigitsAsk,
    DigitsDecision,
    SmileRiskInput,
    SmileRiskSettings,
    decide_digits,
)
from terminal.config.schema import FaceSection, SmileSection
from terminal.kiosk.face_sensor import FaceSensor, LivenessJudge, ProbeCollector
from terminal.kiosk.smile_states import END_STATES, TRANSITIONS, SmileEvent, SmileState
from terminal.statemachine import StateMachine
from vision.errors import VisionError
from vision.face.embedding import NoFaceError
from vision.face.liveness import LivenessStatus
from vision.face.types import FaceObservation

log = logging.getLogger(__name__)
S, E = SmileState, SmileEvent

# Checks whose failure means "a photo, a screen or a mask", not "did not answer in time".
PASSIVE_CHECKS = frozenset({"planar_motion", "moire", "specular", "gamut", "antispoof_model",
                            "passive", "flat_motion", "banding", "screen_moire"})
# (digits sent, gateway's reason) -> fewest digits to ask next; anything else ends the attempt.
_ESCALATION: dict[tuple[str, str], DigitsAsk] = {
    ("none", "ask_for_digits"): "last4", ("none", "no_match"): "last4",
    ("last4", "ask_for_digits"): "all",
}
DIGIT_PROMPTS: dict[str, str] = {
    "last4": "Please type the last 4 digits of your phone number",
    "all": "Please type your full phone number",
}


class FaceGateway(Protocol):
    """The face calls the flow makes (``payments.clients.face.FaceClient``)."""

    def candidates(self, *, phone_digits: str) -> CandidateCount: ...

    def verify(self, *, phone_digits: str, probe: Any,
               threshold: float | None = None) -> FaceMatch: ...


class Charger(Protocol):
    """The charge call the flow makes (``payments.clients.gateway.GatewayClient``)."""

    def charge(self, subject_id: str, amount: Money, reference: str, description: str,
               idempotency_key: str) -> Charge: ...


@dataclass(frozen=True)
class Order:
    """What the customer is paying for."""

    order_id: str
    amount: Money
    description: str = "Kiosk order"


@dataclass(frozen=True)
class PendingCharge:
    """A charge whose answer never arrived: it may or may not have gone through.

    Re-sending it with the same idempotency key and body is how the kiosk finds out: the
    gateway replays the stored answer if it saw the charge, or performs it now if it did not,
    so either way the customer is charged at most once.
    """

    subject_id: str
    amount: Money
    reference: str
    description: str
    idempotency_key: str


def attempt_event_id(terminal_id: str, kind: str, reference: str) -> str:
    """The id of the ``kind`` event (captured, declined, paid, cancelled) of the payment
    attempt ``reference`` at ``terminal_id``: whoever emits it — the payment flow or a restart's
    reconciliation — the outbox and the back end keep it once."""
    return derived_event_id(terminal_id, "kiosk-payment", kind, reference)


def outcome_unknown(exc: Exception) -> bool:
    """Whether a failed money call may still have happened at the gateway."""
    from payments.clients.errors import ProtocolError, ServiceUnavailable

    return isinstance(exc, ServiceUnavailable | ProtocolError)


@dataclass(frozen=True)
class SmileStatus:
    """What the screen shows after each step, and the outcome once the attempt ends."""

    state: SmileState
    prompt: str
    reasons: tuple[Reason, ...] = ()
    action: str | None = None  # the challenge action being asked for
    digits_asked: DigitsAsk | None = None
    subject_id: str | None = None
    charge_id: str | None = None
    liveness: dict[str, Any] = field(default_factory=dict)
    # Seconds from the face first seen to the match (None until verified).
    decision_s: float | None = None

    @property
    def done(self) -> bool:
        """True once the attempt has ended."""
        return self.state in END_STATES

    @property
    def reason_codes(self) -> tuple[str, ...]:
        """The codes of the reasons."""
        return tuple(r.code for r in self.reasons)


def risk_settings(section: SmileSection) -> SmileRiskSettings:
    """The risk rule's settings from the ``[smile]`` config section."""
    return SmileRiskSettings(
        fmr_at_threshold=section.fmr_at_threshold,
        false_match_budget=section.false_match_budget, currency=section.currency,
        no_digits_max_minor=section.no_digits_max_minor,
        last4_max_minor=section.last4_max_minor, max_order_minor=section.max_order_minor,
    )


class SmileToPay:
    """One kiosk's Smile-to-Pay attempts: ``start(order)``, then ``on_frame`` / ``enter_digits``.

    Time comes from ``clock`` (seconds, monotonic); ``wall_clock`` (Unix seconds) stamps events.
    ``emit`` receives every event (e.g. ``Outbox.append``).
    """

    def __init__(
        self,
        *,
        sensor: FaceSensor,
        faces: FaceGateway,
        gateway: Charger,
        face: FaceSection,
        smile: SmileSection,
        terminal_id: str,
        clock: Callable[[], float],
        wall_clock: Callable[[], float] | None = None,
        emit: Callable[[Event], object] | None = None,
    ) -> None:
        self._sensor = sensor
        self._faces = faces
        self._gateway = gateway
        self._face = face
        self._smile = smile
        self._risk = risk_settings(smile)
        self._terminal_id = terminal_id
        self._clock = clock
        self._wall = wall_clock
        self._emit = emit or (lambda _e: None)
        self.machine: StateMachine[SmileState, SmileEvent] = StateMachine(
            TRANSITIONS, S.IDLE, clock=clock)
        self._order: Order | None = None
        self._collector: ProbeCollector | None = None
        # Kept across attempts until settled: see recheck_charge().
        self.pending_charge: PendingCharge | None = None
        self._clear()

    # -- public ---------------------------------------------------------------------------

    @property
    def state(self) -> SmileState:
        """The current state."""
        return self.machine.state

    @property
    def status(self) -> SmileStatus:
        """What to show now."""
        return self._status

    def start(self, order: Order) -> SmileStatus:
        """Begin an attempt for ``order`` (from any state; a running attempt is abandoned)."""
        if self.state is not S.IDLE:
            self.machine.fire(E.RESET)
        self._clear()
        self._order = order
        decision = self._decide()
        if decision.ask == "unavailable":
            return self._end(E.DECLINED, decision.reasons, "Please pay with a QR code instead")
        return self._show("Please look at the camera")

    def on_frame(self, image: np.ndarray, timestamp: float) -> SmileStatus:
        """Feed one camera frame; returns what to show."""
        if self._order is None or self.state in END_STATES:
            return self._status
        if self.state in (S.DIGITS, S.VERIFYING, S.VERIFIED, S.EMBEDDING):
            return self.tick()
        observation = self._sensor.observe(image, timestamp)
        try:
            if self.state is S.IDLE:
                return self._idle(observation, image)
            if self.state is S.FACE_SEEN:
                return self._face_seen(observation, image)
            return self._challenge(observation, image)
        except VisionError as exc:
            log.warning("smile to pay: vision failed: %s", exc)
            return self._end(E.ERROR, (Reason("vision_failed", "The camera check failed"),),
                             "Sorry, please try again")

    def enter_digits(self, digits: str) -> SmileStatus:
        """The customer typed ``digits`` on the keypad."""
        if self.state is not S.DIGITS:
            return self._status
        digits = digits.strip()
        ask = self._status.digits_asked
        ok = (digits.isascii() and digits.isdigit()
              and (len(digits) == 4 if ask == "last4" else 7 <= len(digits) <= 15))
        if not ok:
            want = "exactly 4 digits" if ask == "last4" else "your full phone number"
            return self._show(f"Please type {want}", digits_asked=ask)
        self.machine.fire(E.DIGITS_ENTERED)
        try:
            if ask == "last4":
                sharing = self._faces.candidates(phone_digits=digits).count
                decision = self._decide(sharing_last4=sharing, at_least="last4")
                if decision.ask != "last4":
                    return self._ask_digits(decision, escalate=True)
            return self._verify(digits)
        except ApiError as exc:
            return self._service_failed(exc)

    def tick(self) -> SmileStatus:
        """Check timeouts when no frame arrives (e.g. while waiting for digits)."""
        now = self._clock()
        if self.state is S.DIGITS and now - self._digits_since > self._smile.digits_timeout_s:
            return self._end(E.TIMED_OUT, (Reason("digits_timeout",
                                                  "No phone digits were typed in time"),),
                             "Sorry, time is up")
        return self._status

    def reset(self) -> SmileStatus:
        """Forget the attempt and wait for the next order."""
        if self.state is not S.IDLE:
            self.machine.fire(E.RESET)
        self._clear()
        self._order = None
        return self._status

    # -- camera states --------------------------------------------------------------------

    def _idle(self, observation: FaceObservation | None, image: np.ndarray) -> SmileStatus:
        if self._timed_out():
            return self._timeout("No face was seen in time")
        if observation is None:
            return self._status
        self.machine.fire(E.FACE_APPEARED)
        self._face_seen_at = self._clock()
        return self._face_seen(observation, image)

    def _face_seen(self, observation: FaceObservation | None, image: np.ndarray) -> SmileStatus:
        if self._timed_out():
            return self._timeout("No clear view of the face in time")
        if observation is None:
            self.machine.fire(E.FACE_LOST)
            return self._show("Please look at the camera")
        report = self._sensor.quality(observation, image)
        if not report.passed:
            return self._show(report.failed[0].hint.capitalize())
        self.machine.fire(E.QUALITY_PASSED)
        self._liveness = self._sensor.new_liveness()
        self._collector = self._sensor.start_probe()
        self.machine.fire(E.CHALLENGE_STARTED)
        return self._challenge(observation, image, report_passed=True)

    def _challenge(self, observation: FaceObservation | None, image: np.ndarray, *,
                   report_passed: bool | None = None) -> SmileStatus:
        assert self._liveness is not None
        if observation is not None:
            passed = report_passed
            if passed is None:
                passed = self._sensor.quality(observation, image).passed
            if self._collector is not None:
                # Probe frames come from this session: the first good ones (still looking
                # straight at the camera), then check frames of every kind until the challenge
                # is answered (a blurred face must not dodge the identity check).
                self._collector.offer(image, observation, self._clock(), good=bool(passed))
        status = self._liveness.update(observation)
        if status.state == "failed":
            return self._liveness_failed(status)
        if status.state == "passed":
            self.machine.fire(E.CHALLENGE_PASSED)
            return self._embed_and_ask(status)
        if self._timed_out():
            return self._timeout("The check took too long")
        return self._show(status.prompt, action=status.action,
                          liveness=status.evidence.as_dict())

    def _liveness_failed(self, status: LivenessStatus) -> SmileStatus:
        checks = status.evidence.checks
        failed = sorted(name for name, c in checks.items() if not c.passed)
        spoof = [name for name in failed if name in PASSIVE_CHECKS]
        self._emit_event("liveness.failed", None, {
            "reason": "spoof_suspected" if spoof else "challenge_not_answered",
            "failed_checks": ",".join(failed)[:200] or "none",
            "actions_done": ",".join(status.evidence.actions) or "none",
        })
        evidence = status.evidence.as_dict()
        if spoof:
            return self._end(E.SPOOF_DETECTED, (Reason(
                "spoof_suspected",
                "The camera did not see a live person (" + ", ".join(spoof) + ")"),),
                "Sorry, we could not confirm it is you", liveness=evidence)
        if self.machine.can(E.TIMED_OUT) and "in time" in status.reason:
            return self._end(E.TIMED_OUT, (Reason(
                "challenge_not_answered", "The on-screen request was not answered in time"),),
                "Sorry, time is up", liveness=evidence)
        return self._end(E.DECLINED, (Reason(
            "liveness_interrupted", f"The check was interrupted: {status.reason}"),),
            "Sorry, please try again", liveness=evidence)

    def _face_changed(self) -> SmileStatus:
        self._emit_event("liveness.failed", None, {
            "reason": "identity_changed", "failed_checks": "identity_continuity",
            "actions_done": ",".join(self._actions_done) or "none",
        })
        self._evidence["live"] = False
        return self._end(E.SPOOF_DETECTED, (Reason(
            "face_changed", "The face changed during the check"),),
            "Sorry, we could not confirm it is you")

    # -- after liveness ---------------------------------------------------------------------

    def _embed_and_ask(self, status: LivenessStatus) -> SmileStatus:
        self._evidence = status.evidence.as_dict()
        self._actions_done = status.evidence.actions
        collector, self._collector = self._collector, None
        try:
            # Usually ready already: worker processes embedded the frames during the challenge.
            probe = collector.finish() if collector is not None else None
        except NoFaceError:
            probe = None
        if probe is None:
            return self._end(E.DECLINED, (Reason("no_clear_face",
                                                 "No clear view of the face to match"),),
                             "Sorry, please try again")
        passed = probe.continuity <= self._face.continuity_max_distance
        self._evidence["checks"] = {**self._evidence.get("checks", {}), "identity_continuity": {
            "passed": passed, "score": round(probe.continuity, 4),
            "detail": f"largest distance of {probe.checked} later frame(s) to the probe "
                      f"(limit {self._face.continuity_max_distance})"}}
        if not passed:
            return self._face_changed()
        self._probe = probe.embedding
        try:
            self._regulars = self._faces.candidates(phone_digits="").count
            decision = self._decide()
        except ApiError as exc:
            return self._service_failed(exc)
        if decision.ask == "none":
            self.machine.fire(E.NO_DIGITS_NEEDED)
            self._digits_reasons = decision.reasons
            try:
                return self._verify("")
            except ApiError as exc:
                return self._service_failed(exc)
        return self._ask_digits(decision, escalate=False)

    def _ask_digits(self, decision: DigitsDecision, *, escalate: bool) -> SmileStatus:
        if decision.ask == "unavailable":
            return self._end(E.NOT_MATCHED if self.state is S.VERIFYING else E.DECLINED,
                             decision.reasons, "Please pay with a QR code instead")
        self.machine.fire(E.MORE_DIGITS_NEEDED if escalate else E.DIGITS_NEEDED)
        self._digits_since = self._clock()
        self._digits_reasons = decision.reasons
        return self._show(DIGIT_PROMPTS[decision.ask], reasons=decision.reasons,
                          digits_asked=decision.ask, liveness=self._evidence)

    def _verify(self, digits: str) -> SmileStatus:
        assert self._probe is not None
        asked: DigitsAsk = "none" if not digits else ("last4" if len(digits) == 4 else "all")
        result = self._faces.verify(phone_digits=digits, probe=self._probe.tolist(),
                                    threshold=self._face.payment_threshold)
        if result.match and result.subject_id:
            return self._verified(result, asked)
        floor = _ESCALATION.get((asked, result.reason))
        if floor is not None:
            return self._ask_digits(self._decide(at_least=floor), escalate=True)
        self._probe = None
        reason = {
            "no_match": Reason("face_not_matched",
                               "The face does not match an account with those digits"),
            "ask_for_digits": Reason("match_ambiguous", "More than one account matched"),
            "too_many_attempts": Reason("too_many_attempts",
                                        "Too many failed attempts; please pay another way"),
        }.get(result.reason, Reason("face_not_matched", "No confident match"))
        self._emit_event("face.rejected", None, {"reason": reason.code, "digits_asked": asked})
        return self._end(E.NOT_MATCHED, (reason,), "Sorry, we could not match your face",
                         digits_asked=asked)

    def _verified(self, result: FaceMatch, asked: DigitsAsk) -> SmileStatus:
        assert self._order is not None and result.subject_id is not None
        self._probe = None  # the embedding is not kept once matched
        self.machine.fire(E.MATCHED)
        decision_s = self._clock() - self._face_seen_at
        subject = result.subject_id
        order = self._order
        self._emit_event("face.verified", subject, {
            "order_id": order.order_id, "digits_asked": asked,
            "decision_ms": int(decision_s * 1000),
            "reasons": ",".join(r.code for r in self._digits_reasons)[:200],
        })
        try:
            charge = self._gateway.charge(subject, order.amount, order.order_id,
                                          order.description, self._charge_key)
        except PaymentDeclined as exc:
            self._emit_event("payment.declined", subject, {
                "order_id": order.order_id, "amount_minor": order.amount.amount_minor,
                "currency": order.amount.currency, "code": exc.code})
            return self._end(E.DECLINED, (Reason("payment_declined",
                                                 "The payment was declined by your account"),),
                             "Sorry, the payment was declined", subject_id=subject,
                             decision_s=decision_s, digits_asked=asked)
        except (ApiError, BadArgument) as exc:
            if outcome_unknown(exc):
                log.warning("smile to pay: the charge's answer was lost (%s); it will be "
                            "checked with the same key", exc)
                self.pending_charge = PendingCharge(subject, order.amount, order.order_id,
                                                    order.description, self._charge_key)
                return self._end(E.ERROR, (Reason(
                    "payment_unconfirmed", "We could not confirm the payment yet"),),
                    "Checking the payment", subject_id=subject, decision_s=decision_s,
                    digits_asked=asked)
            return self._service_failed(exc)
        self._emit_event("payment.captured", subject, {
            "order_id": order.order_id, "charge_id": charge.charge_id, "method": "smile",
            "amount_minor": order.amount.amount_minor, "currency": order.amount.currency})
        reasons = (Reason("face_verified", "Face matched with a liveness check"),
                   *self._digits_reasons)[:MAX_REASONS]
        return self._end(E.CHARGED, reasons, f"Paid {order.amount.format()}. Thank you!",
                         subject_id=subject, charge_id=charge.charge_id,
                         decision_s=decision_s, digits_asked=asked)

    def recheck_charge(self) -> tuple[str, str | None]:
        """Re-send the :attr:`pending_charge` with its key: ``("charged", charge_id)``,
        ``("declined", None)`` (nothing was or will be charged) or ``("unknown", None)``."""
        pending = self.pending_charge
        if pending is None:
            return "declined", None
        try:
            charge = self._gateway.charge(pending.subject_id, pending.amount, pending.reference,
                                          pending.description, pending.idempotency_key)
        except PaymentDeclined as exc:
            self.pending_charge = None
            self._emit_event("payment.declined", pending.subject_id, {
                "order_id": pending.reference, "amount_minor": pending.amount.amount_minor,
                "currency": pending.amount.currency, "code": exc.code})
            return "declined", None
        except (ApiError, BadArgument) as exc:
            if outcome_unknown(exc):
                return "unknown", None
            self.pending_charge = None
            return "declined", None
        self.pending_charge = None
        self._emit_event("payment.captured", pending.subject_id, {
            "order_id": pending.reference, "charge_id": charge.charge_id, "method": "smile",
            "amount_minor": pending.amount.amount_minor, "currency": pending.amount.currency})
        return "charged", charge.charge_id

    # -- helpers --------------------------------------------------------------------------

    def _decide(self, *, sharing_last4: int | None = None,
                at_least: DigitsAsk = "none") -> DigitsDecision:
        assert self._order is not None
        return decide_digits(SmileRiskInput(self._order.amount, self._regulars, sharing_last4,
                                            at_least), self._risk)

    def _timed_out(self) -> bool:
        return self._clock() - self._started_at > self._face.session_timeout_s

    def _timeout(self, text: str) -> SmileStatus:
        return self._end(E.TIMED_OUT, (Reason("timed_out", text),), "Sorry, time is up")

    def _service_failed(self, exc: Exception) -> SmileStatus:
        log.warning("smile to pay: back end call failed: %s", exc)
        self._probe = None
        return self._end(E.ERROR, (Reason("service_unavailable",
                                          "The payment service could not be reached"),),
                         "Sorry, please pay another way")

    def _end(self, event: SmileEvent, reasons: tuple[Reason, ...], prompt: str,
             **extra: Any) -> SmileStatus:
        self.machine.fire(event)
        self._drop_collector()
        self._probe = None
        extra.setdefault("liveness", self._evidence)
        return self._show(prompt, reasons=reasons[:MAX_REASONS], **extra)

    def _show(self, prompt: str, **extra: Any) -> SmileStatus:
        self._status = SmileStatus(self.state, prompt, **extra)
        return self._status

    def _emit_event(self, kind: str, subject_id: str | None, attributes: dict[str, Any]) -> None:
        extra: dict[str, Any] = {} if self._wall is None else {"clock": self._wall}
        if kind in ("payment.captured", "payment.declined"):
            # One per payment attempt, whoever emits it (this flow or a restart's
            # reconciliation): the derived id keeps it once.
            extra["event_id"] = attempt_event_id(self._terminal_id, kind,
                                                 str(attributes["order_id"]))
        self._emit(make_event(kind, terminal_id=self._terminal_id, subject_id=subject_id,
                              attributes=attributes, **extra))

    def _drop_collector(self) -> None:
        if self._collector is not None:
            self._collector.discard()  # frames leave memory with the attempt
        self._collector = None

    def _clear(self) -> None:
        self._drop_collector()
        self._probe: np.ndarray | None = None
        self._liveness: LivenessJudge | None = None
        self._evidence: dict[str, Any] = {}
        self._actions_done: tuple[str, ...] = ()
        self._regulars = 0
        self._digits_reasons: tuple[Reason, ...] = ()
        self._digits_since = 0.0
        self._started_at = self._clock()
        self._face_seen_at = self._started_at
        self._charge_key = new_idempotency_key()
        self._status = SmileStatus(S.IDLE, "Welcome")
