"""Smile-to-Pay enrollment at the kiosk, reached from the payment screen.

consent (read, then "I agree" or "No, thanks") → phone number on the keypad → the wallet's
payment code shown to the camera (it proves which account the face will pay from) → face
capture with the liveness prompts → enrolled, or the reason it did not work. Nothing is
captured before consent; declining records nothing; the phone number and the frames leave
memory when the enrollment ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from payments.clients.face import Consent
from payments.events import Event
from terminal.config.schema import FaceSection
from terminal.errors import FlowError
from terminal.kiosk.enroll import EnrollState, FaceEnroller, FaceEnrollment, consent_text
from terminal.kiosk.face_sensor import FaceSensor

log = logging.getLogger(__name__)
Step = Literal["consent", "phone", "code", "capture", "done", "declined", "failed"]
RETENTION_DAYS = 365
PURPOSE = "smile_to_pay"
CODE_TIMEOUT_S = 45.0
# Why an enrollment ended, as the screen's reason codes (anything else: "enroll_failed").
SHOWN_REASONS = frozenset({"code_already_used", "code_expired", "code_malformed",
                           "code_signature_invalid", "code_not_yet_valid", "phone_in_use"})


class KioskEnrollDesk:
    """One enrollment at a time, driven by taps and camera frames."""

    def __init__(self, *, sensor: FaceSensor, faces: FaceEnroller, face: FaceSection,
                 terminal_id: str, clock: Callable[[], float], wall_clock: Callable[[], float],
                 decode: Callable[[np.ndarray], list[str | bytes]],
                 emit: Callable[[Event], object] | None = None,
                 show_prompt: Callable[[str | None, float], None] | None = None) -> None:
        self._face = face
        self._clock = clock
        self._decode = decode
        # An emulated customer sees the prompt on screen before the next frame (emulator only).
        self._show_prompt = show_prompt
        self._flow = FaceEnrollment(sensor=sensor, faces=faces, face=face,
                                    terminal_id=terminal_id, clock=clock, require_liveness=True,
                                    emit=emit, wall_clock=wall_clock)
        self._reset("consent")

    @property
    def finished(self) -> bool:
        """Whether the enrollment has ended (either way)."""
        return self._step in ("done", "declined", "failed")

    @property
    def uses_camera(self) -> bool:
        """Whether camera frames are wanted now."""
        return self._step in ("code", "capture")

    def begin(self) -> None:
        """A new customer opens enrollment: show the consent."""
        self._flow.reset()
        self._reset("consent")

    def act(self, action: str, args: Mapping[str, str]) -> bool:
        """A tap on the enrollment screen; returns whether the screen changed."""
        if action == "agree" and self._step == "consent":
            self._step = "phone"
        elif action == "decline" and self._step == "consent":
            self._flow.decline_consent()
            self._step = "declined"
        elif action == "key" and self._step == "phone":
            digit = args.get("digit", "")
            if not (len(digit) == 1 and digit.isascii() and digit.isdigit()):
                raise FlowError("a key is one digit")
            if len(self._phone) < 15:
                self._phone += digit
        elif action == "backspace" and self._step == "phone":
            self._phone = self._phone[:-1]
        elif action == "submit" and self._step == "phone":
            if not 7 <= len(self._phone) <= 15:
                self._error = "phone_length"
                return True
            self._step, self._since, self._error = "code", self._clock(), ""
        elif action == "retry" and self.finished:
            self.begin()
        else:
            raise FlowError(f"'{action}' is not possible at the {self._step} step")
        return True

    def on_frame(self, image: np.ndarray, timestamp: float) -> bool:
        """A camera frame during the code or capture step; returns whether the screen changed."""
        if self._step == "code":
            payloads = self._decode(image)
            if not payloads:
                return False
            code = payloads[0]
            text = code.decode("utf-8", "replace") if isinstance(code, bytes) else code
            consent = Consent(given_by="kiosk customer (on-screen consent)", purpose=PURPOSE,
                              retention_days=RETENTION_DAYS, given_at=datetime.now(UTC))
            try:
                self._flow.give_consent(consent, payment_code=text, phone=self._phone)
            except (FlowError, ValueError) as exc:
                log.info("enrollment: code or phone refused: %s", exc)
                self._fail("code_unreadable")
                return True
            self._phone = ""
            self._step = "capture"
            return True
        if self._step == "capture":
            before = self._status_key()
            if self._show_prompt is not None:
                self._show_prompt(self._flow.status.action, timestamp)
            status = self._flow.on_frame(image, timestamp)
            if status.state is EnrollState.ENROLLED:
                self._step = "done"
            elif status.done:
                self._fail(_reason_code(status.reason or ""))
            return self._status_key() != before
        return False

    def tick(self) -> bool:
        """Give up waiting for the payment code after a while."""
        if self._step == "code" and self._clock() - self._since > CODE_TIMEOUT_S:
            self._fail("no_code_seen")
            return True
        return False

    def cancel(self) -> None:
        """Leave enrollment: whatever was typed or captured is forgotten."""
        if not self.finished and self._step != "consent":
            self._flow.reset()
        self._reset("consent")

    def snapshot(self) -> dict[str, Any]:
        """What the enrollment screen shows."""
        status = self._flow.status
        return {
            "step": self._step, "typed": len(self._phone), "error": self._error,
            "consent_text": consent_text(PURPOSE, RETENTION_DAYS),  # the recorded wording
            "retention_days": RETENTION_DAYS,
            "frames": status.frames, "total": self._face.enroll_frames,
            "prompt": status.prompt, "action": status.action, "reason": self._reason,
        }

    def _status_key(self) -> tuple[Any, ...]:
        status = self._flow.status
        return (self._step, status.prompt, status.action, status.frames)

    def _fail(self, reason: str) -> None:
        self._step = "failed"
        self._reason = reason
        self._phone = ""

    def _reset(self, step: Step) -> None:
        self._step: Step = step
        self._phone = ""
        self._error = ""
        self._reason = ""
        self._since = self._clock()


def _reason_code(detail: str) -> str:
    """The screen's reason code for an enrollment's free-text reason ("code: words")."""
    head = detail.split(":", 1)[0].strip()
    if head == "liveness":
        code = "liveness_interrupted"
    else:
        code = head if head in SHOWN_REASONS else "enroll_failed"
    log.info("enrollment ended: %s (%s)", code, detail)
    return code
