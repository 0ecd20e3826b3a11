"""Smile to Pay enrollment, consent first: nothing is captured until the person has agreed.

awaiting consent → capturing (quality-gated frames, optionally with the liveness challenge)
→ enrolled | refused (consent declined) | failed | timed out. Each good frame's embedding is
sent to the gateway with the consent record and the account holder's wallet payment code (the
proof of which account the face is for); the gateway keeps the template encrypted. The
terminal keeps no image and no embedding once the attempt ends.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import numpy as np

from hardware.ports import Frame
from payments.clients.errors import ApiError
from payments.clients.face import Consent, Enrollment, normalise_phone
from payments.events import Event, make_event
from payments.paycode import PaymentCodeError, parse_code
from terminal.config.schema import FaceSection
from terminal.errors import FlowError
from terminal.kiosk.face_sensor import FaceSensor, LivenessJudge
from terminal.statemachine import StateMachine, table_from
from vision.errors import VisionError

log = logging.getLogger(__name__)

# Seconds between two frames kept for the template, so they are not near-copies.
MIN_FRAME_GAP_S = 0.15


class EnrollState(Enum):
    """Where an enrollment stands."""

    AWAITING_CONSENT = "awaiting_consent"
    CAPTURING = "capturing"
    ENROLLED = "enrolled"
    REFUSED = "refused"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class EnrollEvent(Enum):
    """What can happen during an enrollment."""

    CONSENT_GIVEN = "consent_given"
    CONSENT_DECLINED = "consent_declined"
    STORED = "stored"
    ERROR = "error"
    TIMED_OUT = "timed_out"
    RESET = "reset"


_S, _E = EnrollState, EnrollEvent
ENROLL_END_STATES = (_S.ENROLLED, _S.REFUSED, _S.FAILED, _S.TIMED_OUT)
ENROLL_TRANSITIONS = table_from([
    (_S.AWAITING_CONSENT, _E.CONSENT_GIVEN, _S.CAPTURING),
    (_S.AWAITING_CONSENT, _E.CONSENT_DECLINED, _S.REFUSED),
    (_S.CAPTURING, _E.STORED, _S.ENROLLED),
    (_S.CAPTURING, _E.ERROR, _S.FAILED),
    (_S.CAPTURING, _E.TIMED_OUT, _S.TIMED_OUT),
    ((_S.CAPTURING, *ENROLL_END_STATES), _E.RESET, _S.AWAITING_CONSENT),
])


class FaceEnroller(Protocol):
    """The enrollment call (``payments.clients.face.FaceClient.enroll``)."""

    def enroll(self, *, payment_code: str, phone: str, embeddings: Any,
               consent: Consent, idempotency_key: str | None = None) -> Enrollment: ...


@dataclass(frozen=True)
class EnrollStatus:
    """What the screen shows, and the outcome once done."""

    state: EnrollState
    prompt: str
    frames: int = 0
    action: str | None = None  # the liveness challenge action being asked for
    enrollment: Enrollment | None = None
    reason: str = ""

    @property
    def done(self) -> bool:
        """True once the enrollment has ended."""
        return self.state in ENROLL_END_STATES


def consent_text(purpose: str, retention_days: int, *, digit_free: bool = False) -> str:
    """The plain-words consent the person reads before anything is captured."""
    text = (f"Smile to Pay stores a mathematical template of your face (not a photo), encrypted, "
            f"for {retention_days} days, only to confirm it is you when you pay ({purpose}). "
            "You can delete it at any time by showing your wallet's payment code at a kiosk.")
    if digit_free:
        text += (" You also allow paying without typing digits at kiosks where you are a "
                 "regular customer.")
    return text


def consent_text_version(purpose: str, retention_days: int, *, digit_free: bool = False) -> str:
    """The version of the notice :func:`consent_text` shows for these terms, recorded with the
    release (``smile-to-pay-notice/`` and the first 12 hex digits of the wording's SHA-256, so
    a changed wording is a new version)."""
    text = consent_text(purpose, retention_days, digit_free=digit_free)
    return "smile-to-pay-notice/" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class FaceEnrollment:
    """Consent, then capture: ``give_consent(...)``, then ``on_frame`` until done."""

    def __init__(self, *, sensor: FaceSensor, faces: FaceEnroller, face: FaceSection,
                 terminal_id: str, clock: Callable[[], float], require_liveness: bool = True,
                 emit: Callable[[Event], object] | None = None,
                 wall_clock: Callable[[], float] | None = None) -> None:
        self._sensor = sensor
        self._faces = faces
        self._face = face
        self._terminal_id = terminal_id
        self._clock = clock
        self._require_liveness = require_liveness
        self._emit = emit or (lambda _e: None)
        self._wall = wall_clock
        self.machine: StateMachine[EnrollState, EnrollEvent] = StateMachine(
            ENROLL_TRANSITIONS, _S.AWAITING_CONSENT, clock=clock)
        self._reset_data()

    @property
    def state(self) -> EnrollState:
        """The current state."""
        return self.machine.state

    @property
    def status(self) -> EnrollStatus:
        """What to show now."""
        return self._status

    def give_consent(self, consent: Consent, *, payment_code: str, phone: str
                     ) -> EnrollStatus:
        """The person agreed (to ``consent``) and showed their wallet's payment code (proof
        of the account the face will pay from); capture may begin."""
        if self.state is not _S.AWAITING_CONSENT:
            raise FlowError(f"consent is taken before capture, not in state {self.state.value}")
        phone = normalise_phone(phone)  # a mistyped number fails before any capture
        try:
            parse_code(payment_code)  # a misread code fails before any capture, too
        except PaymentCodeError as exc:
            raise FlowError(f"the account's payment code cannot be read: {exc}") from None
        if consent.text_version is None:  # the release names the wording the person read
            consent = dataclasses.replace(consent, text_version=consent_text_version(
                consent.purpose, consent.retention_days, digit_free=consent.digit_free))
        self.machine.fire(_E.CONSENT_GIVEN)
        self._consent, self._payment_code, self._phone = consent, payment_code, phone
        self._started_at = self._clock()
        self._liveness = self._sensor.new_liveness() if self._require_liveness else None
        self._live = not self._require_liveness
        return self._show("Please look at the camera")

    def decline_consent(self) -> EnrollStatus:
        """The person said no: nothing is captured."""
        self.machine.fire(_E.CONSENT_DECLINED)
        return self._show("No problem: nothing was recorded", reason="consent_declined")

    def on_frame(self, image: np.ndarray, timestamp: float) -> EnrollStatus:
        """Feed one camera frame (ignored before consent and after the end)."""
        if self.state is not _S.CAPTURING:
            return self._status
        if self._clock() - self._started_at > self._face.session_timeout_s:
            return self._end(_E.TIMED_OUT, "Sorry, time is up", "timed_out")
        try:
            return self._capture(image, timestamp)
        except VisionError as exc:
            log.warning("enrollment: vision failed: %s", exc)
            return self._end(_E.ERROR, "Sorry, please try again", "vision_failed")

    def run(self, frames: Iterable[Frame]) -> EnrollStatus:
        """Feed ``frames`` until the enrollment ends; fail if they run out first."""
        for frame in frames:
            if self.on_frame(frame.image, frame.timestamp).done:
                return self._status
        if self.state is _S.CAPTURING:
            common = (f" (most often: {self._rejected.most_common(1)[0][0]})"
                      if self._rejected else "")
            return self._end(_E.ERROR, "Not enough clear frames of the face",
                             f"only {len(self._embeddings)} of {self._face.enroll_frames} "
                             f"frames showed one clear face{common}")
        return self._status

    def reset(self) -> EnrollStatus:
        """Forget everything and wait for the next person's consent."""
        if self.state is not _S.AWAITING_CONSENT:
            self.machine.fire(_E.RESET)
        self._reset_data()
        return self._status

    def _capture(self, image: np.ndarray, timestamp: float) -> EnrollStatus:
        observation = self._sensor.observe(image, timestamp)
        if self._liveness is not None and not self._live:
            live = self._liveness.update(observation)
            if live.state == "failed":
                return self._end(_E.ERROR, "Sorry, we could not confirm a live person",
                                 f"liveness: {live.reason}")
            self._live = live.state == "passed"
            prompt, action = live.prompt, live.action
        else:
            prompt, action = "Please hold still", None
        if observation is None:
            self._rejected["no face found"] += 1
            return self._show("Please look at the camera", frames=len(self._embeddings))
        report = self._sensor.quality(observation, image)
        if not report.passed:
            gate = report.failed[0]
            self._rejected[f"{gate.name} needs {gate.limit}"] += 1
            return self._show(gate.hint.capitalize(), frames=len(self._embeddings))
        if (len(self._embeddings) < self._face.enroll_frames
                and timestamp - self._last_kept >= MIN_FRAME_GAP_S):
            self._embeddings.append(self._sensor.embed([(image, observation)]))
            self._last_kept = timestamp
        if self._live and len(self._embeddings) >= self._face.enroll_frames:
            return self._store()
        return self._show(prompt, frames=len(self._embeddings), action=action)

    def _store(self) -> EnrollStatus:
        assert self._consent is not None
        try:
            enrollment = self._faces.enroll(
                payment_code=self._payment_code, phone=self._phone,
                embeddings=[e.tolist() for e in self._embeddings], consent=self._consent)
        except ApiError as exc:
            return self._end(_E.ERROR, "Sorry, enrollment failed", f"{exc.code}: {exc.message}")
        self._embeddings.clear()
        self.machine.fire(_E.STORED)
        extra: dict[str, Any] = {} if self._wall is None else {"clock": self._wall}
        self._emit(make_event("face.enrolled", terminal_id=self._terminal_id,
                              subject_id=enrollment.subject_id, attributes={
                                  "enrollment_id": enrollment.enrollment_id,
                                  "frames": enrollment.frames,
                                  "retention_days": self._consent.retention_days,
                                  "digit_free": self._consent.digit_free,
                                  "live_checked": self._require_liveness}, **extra))
        self._phone = ""
        return self._show("You are enrolled for Smile to Pay", frames=enrollment.frames,
                          enrollment=enrollment)

    def _end(self, event: EnrollEvent, prompt: str, reason: str) -> EnrollStatus:
        self.machine.fire(event)
        frames = len(self._embeddings)
        self._embeddings.clear()
        self._phone = ""
        return self._show(prompt, frames=frames, reason=reason)

    def _show(self, prompt: str, **extra: Any) -> EnrollStatus:
        self._status = EnrollStatus(self.state, prompt, **extra)
        return self._status

    def _reset_data(self) -> None:
        self._consent: Consent | None = None
        self._payment_code = ""
        self._phone = ""
        self._embeddings: list[np.ndarray] = []
        self._last_kept = float("-inf")
        self._rejected: Counter[str] = Counter()
        self._liveness: LivenessJudge | None = None
        self._live = False
        self._started_at = self._clock()
        self._status = EnrollStatus(self.state, "Read the consent to enroll for Smile to Pay")
