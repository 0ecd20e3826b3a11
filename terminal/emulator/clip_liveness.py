"""Emulator-only liveness judge for recorded clips: the challenge is fixed to "blink".

A recording cannot answer a randomised prompt, so the emulator's Smile-to-Pay scenario runs
in a clearly labelled *clip-driven mode*: the screen asks for a blink, and the clip (a person
who blinks, e.g. EyeBlink8) answers it. The blink is judged with vision's spontaneous-blink
check against the person's own open-eye level; a plane moving flat (photo, screen) is a spoof
veto; the sensor's passive checks join the evidence. There is no head turn, so the parallax
proof of the kiosk's challenge is absent — this mode demonstrates the pipeline, it is not the
kiosk's liveness.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from terminal.kiosk.face_sensor import VisionFaceSensor
from vision.face.clip import blink_check
from vision.face.geometry import parallax_tracks
from vision.face.liveness import LivenessEvidence, LivenessStatus, verdict
from vision.face.passive import PARALLAX_MIN_RESIDUAL, planar_motion
from vision.face.types import CheckResult, FaceObservation

CLIP_MODE_LABEL = ("clip-driven mode: the challenge is fixed to 'blink' and the recorded clip "
                   "answers it (a recording cannot answer a random prompt)")
PROMPT = "Please blink (recorded-clip mode)"
# Frames of landmark tracks before the flat-plane veto is trusted.
MIN_FLAT_FRAMES = 10


class ClipBlinkJudge:
    """Waits for one blink within ``window_s`` after ``baseline_frames`` neutral frames."""

    def __init__(self, clock: Callable[[], float], *, window_s: float = 4.0,
                 baseline_frames: int = 4, max_face_gap_s: float = 0.6,
                 closed_ratio: float = 0.72,
                 extra_checks: Callable[[], dict[str, CheckResult]] | None = None) -> None:
        self._clock = clock
        self._window_s = window_s
        self._baseline_frames = baseline_frames
        self._max_gap = max_face_gap_s
        self._closed_ratio = closed_ratio
        self._extra = extra_checks
        self._start = clock()
        self._last_face = self._start
        self._ears: list[float] = []
        self._observations: list[FaceObservation] = []
        self._landmarks: list[np.ndarray] = []
        self._checks: dict[str, CheckResult] = {}
        self._state = "baseline"
        self._reason = ""

    @classmethod
    def for_sensor(cls, sensor: VisionFaceSensor) -> ClipBlinkJudge:
        """A judge timed by the sensor's clock, with the sensor's passive checks."""
        return cls(sensor.clock, window_s=sensor.settings.challenge_window_s,
                   extra_checks=sensor.passive_checks)

    def update(self, observation: FaceObservation | None) -> LivenessStatus:
        """Judge one more frame."""
        now = self._clock()
        if self._state in ("passed", "failed"):
            return self._status()
        if observation is None:
            if now - self._last_face > self._max_gap:
                return self._fail("the face was lost")
            return self._timeout(now)
        self._last_face = now
        if observation.face_count > 1:
            return self._fail("more than one face in front of the camera")
        self._ears.append(observation.measures.eye_openness)
        self._observations.append(observation)
        self._landmarks.append(observation.landmarks)
        if len(self._ears) < self._baseline_frames:
            return self._status()
        self._state = "challenge"
        blink = blink_check(self._observations, self._closed_ratio)
        # Closed and open again: the lowest frame is not the latest one.
        if blink.passed and int(np.argmin(self._ears)) < len(self._ears) - 1:
            self._checks["blink"] = blink
            return self._finish()
        return self._timeout(now)

    def evidence(self) -> LivenessEvidence:
        """The checks established so far."""
        blink = self._checks.get("blink")
        done = ("blink",) if blink is not None and blink.passed else ()
        return LivenessEvidence(dict(self._checks), done)

    def _flat(self) -> CheckResult | None:
        if len(self._landmarks) < MIN_FLAT_FRAMES:
            return None  # a few frames of a still head cannot tell a face from a plane
        base, probe = parallax_tracks(self._landmarks)
        motion = planar_motion(base, probe)
        if motion.verdict(PARALLAX_MIN_RESIDUAL) == "flat":
            return CheckResult("planar_motion", False, motion.parallax,
                               "the face moved like one flat plane (photo or screen)")
        return None

    def _finish(self) -> LivenessStatus:
        flat = self._flat()
        if flat is not None:
            self._checks["planar_motion"] = flat
        self._state, self._reason = verdict(self._checks, self._extra)
        return self._status()

    def _timeout(self, now: float) -> LivenessStatus:
        if now - self._start <= self._window_s:
            return self._status()
        flat = self._flat()
        if flat is not None:
            self._checks["planar_motion"] = flat
            return self._fail(f"planar_motion: {flat.detail}")
        self._checks["blink"] = CheckResult("blink", False, now - self._start, "not seen in time")
        return self._fail("no blink seen in time")

    def _fail(self, reason: str) -> LivenessStatus:
        self._state, self._reason = "failed", reason
        return self._status()

    def _status(self) -> LivenessStatus:
        state = self._state
        action = "blink" if state == "challenge" else None
        prompt = {"baseline": "Look at the camera", "challenge": PROMPT, "passed": "Thank you",
                  "failed": "Sorry, please try again"}[state]
        return LivenessStatus(state, action, prompt, 0, self._reason,  # type: ignore[arg-type]
                              self.evidence())
