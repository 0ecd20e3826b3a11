"""An emulated customer who answers the kiosk's randomised liveness prompts on a human timescale.

A recorded clip cannot answer a prompt drawn at random, so to time the kiosk's *real* challenge
end to end the emulator lets a scripted customer act the answers: :class:`ActingSensor` runs
the kiosk's real sensor on every real frame (tracking, quality gates, probe embeddings and
passive checks all see the recorded face), then replaces the face's *expression and pose
measures and landmarks* with those of a synthetic 3-D head (:mod:`vision.face.synthetic`) that
does what the screen asks: after a reaction time it turns, smiles or blinks.

This measures the terminal's side of a decision under a stated model of the person. It says
nothing about whether the liveness checks would catch a real attack: the emulator's attack
scenarios never go through this class.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from terminal.errors import TerminalError
from terminal.kiosk.face_sensor import FaceSensor, LivenessJudge, ProbeCollector, Sample
from vision.face.quality import QualityReport
from vision.face.synthetic import head_cloud
from vision.face.synthetic import observe as synthetic_observe
from vision.face.types import FaceObservation


@dataclass(frozen=True)
class Responsiveness:
    """How quickly the customer answers a prompt.

    ``reaction_s``: from the prompt appearing to the movement starting, drawn uniformly per
    prompt (reading a one-word prompt and choosing the movement: a choice reaction, typically
    0.4-0.7 s for an attentive adult). Then a turn moves at ``turn_speed_deg_s`` up to
    ``turn_deg``, a smile widens over ``smile_ramp_s``, a blink closes the eyes for
    ``blink_closed_s``.
    """

    reaction_s: tuple[float, float] = (0.4, 0.7)
    turn_deg: float = 22.0
    turn_speed_deg_s: float = 120.0
    smile_ramp_s: float = 0.25
    blink_closed_s: float = 0.15

    def __post_init__(self) -> None:
        lo, hi = self.reaction_s
        if not 0 <= lo <= hi:
            raise TerminalError("reaction_s must be (low, high) with 0 <= low <= high")
        if min(self.turn_deg, self.turn_speed_deg_s, self.smile_ramp_s,
               self.blink_closed_s) <= 0:
            raise TerminalError("turn, smile and blink timings must be positive")


class ScriptedCustomer:
    """Answers whatever action the screen asks for, after a reaction time."""

    def __init__(self, responsiveness: Responsiveness | None = None,
                 rng: random.Random | None = None) -> None:
        self.responsiveness = responsiveness or Responsiveness()
        self._rng = rng or random.Random(0)
        self._head = head_cloud()
        self._action: str | None = None
        self._since = 0.0
        self._reaction = 0.0
        self._yaw = 0.0
        self._last_t: float | None = None
        self.reactions: list[float] = []

    def see(self, action: str | None, t: float) -> None:
        """The screen shows ``action`` (None: no request) at time ``t``."""
        if action != self._action:
            self._action, self._since = action, t
            lo, hi = self.responsiveness.reaction_s
            self._reaction = self._rng.uniform(lo, hi)
            if action is not None:
                self.reactions.append(self._reaction)

    def act(self, t: float) -> FaceObservation:
        """The synthetic head's observation at time ``t`` (pose and expression)."""
        r = self.responsiveness
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        moving = self._action is not None and t - self._since >= self._reaction
        progress = t - self._since - self._reaction
        target = 0.0
        if moving and self._action in ("turn_left", "turn_right"):
            target = r.turn_deg if self._action == "turn_left" else -r.turn_deg
        step = r.turn_speed_deg_s * dt
        self._yaw += float(np.clip(target - self._yaw, -step, step))
        closure = smile = 0.0
        if moving and self._action == "blink" and progress < r.blink_closed_s:
            closure = 1.0
        if moving and self._action == "smile":
            smile = min(1.0, progress / r.smile_ramp_s)
        return synthetic_observe(self._head, t, yaw=self._yaw, eye_closure=closure,
                                 smile=smile)


class SensorOverlay:
    """The kiosk's real sensor, with :meth:`observe` left to a subclass: quality gates,
    embeddings, probes, the challenge and closing are the real sensor's."""

    def __init__(self, inner: FaceSensor) -> None:
        self._inner = inner

    def quality(self, observation: FaceObservation, image: np.ndarray) -> QualityReport:
        """The real sensor's quality gates."""
        return self._inner.quality(observation, image)

    def embed(self, samples: Sequence[Sample]) -> np.ndarray:
        """The real sensor's embedding."""
        return self._inner.embed(samples)

    def start_probe(self) -> ProbeCollector:
        """The real sensor's probe collector."""
        return self._inner.start_probe()

    def new_liveness(self) -> LivenessJudge:
        """The real sensor's randomised challenge."""
        return self._inner.new_liveness()

    def close(self) -> None:
        """Close the real sensor."""
        self._inner.close()


class ActingSensor(SensorOverlay):
    """The kiosk's sensor with the customer's answers acted on top of the recorded face.

    Call :meth:`show` with the action the screen asks for before each frame.
    """

    def __init__(self, inner: FaceSensor, customer: ScriptedCustomer) -> None:
        super().__init__(inner)
        self._customer = customer

    def show(self, action: str | None, t: float) -> None:
        """What the screen asks for now."""
        self._customer.see(action, t)

    def observe(self, image: np.ndarray, timestamp: float) -> FaceObservation | None:
        """The real face (box, key points: what quality, embedding and passive checks use)
        with the acting head's landmarks, pose and expression (what liveness judges)."""
        real = self._inner.observe(image, timestamp)
        if real is None:
            return None
        acted = self._customer.act(timestamp)
        return replace(real, landmarks=acted.landmarks, pose=acted.pose,
                       measures=acted.measures)
