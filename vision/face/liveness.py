"""Active liveness: a randomised challenge (smile, blink, head turn) judged against the
person's own neutral baseline, plus the planar-motion check over the whole session.

The session is driven frame by frame: ``update(observation)`` after every tracker result
(None when no face was seen). Time comes from the injected clock, never from sleeping.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vision.errors import VisionError
from vision.face.geometry import parallax_tracks
from vision.face.passive import PARALLAX_MIN_RESIDUAL, planar_motion_check
from vision.face.types import CheckResult, FaceObservation

Action = Literal["smile", "blink", "turn_left", "turn_right"]
State = Literal["baseline", "challenge", "passed", "failed"]

EXPRESSIONS: tuple[Action, ...] = ("smile", "blink")
TURNS: tuple[Action, ...] = ("turn_left", "turn_right")

PROMPTS: dict[str, str] = {
    "smile": "Please smile",
    "blink": "Please blink",
    "turn_left": "Please turn your head to your left",
    "turn_right": "Please turn your head to your right",
}


@dataclass(frozen=True)
class ChallengeStep:
    """One requested action and the seconds allowed for it once prompted."""

    action: Action
    window_s: float


@dataclass(frozen=True)
class ChallengePlan:
    """The ordered actions of one liveness session, after a neutral baseline.

    ``prompt_during_baseline`` shows the first prompt at once and measures the baseline during
    the customer's reaction time (nobody moves within ~0.4 s of reading a prompt), instead of
    first asking them to look at the camera for ``baseline_s``; the first step's window then
    starts with the session. Actions are judged only once the baseline exists, so moving early
    only makes the action harder to show, never easier.
    """

    steps: tuple[ChallengeStep, ...]
    baseline_s: float = 0.4
    baseline_frames: int = 4
    prompt_during_baseline: bool = False

    def __post_init__(self) -> None:
        if not self.steps:
            raise VisionError("a challenge plan needs at least one step")
        if not any(s.action in TURNS for s in self.steps):
            raise VisionError("a challenge plan needs a head turn (it gives the parallax check)")
        if not any(s.action in EXPRESSIONS for s in self.steps):
            raise VisionError("a challenge plan needs a smile or a blink (a tilted photo can "
                              "fake a head turn, not an expression)")

    @classmethod
    def random(cls, rng: random.Random, *, steps: int = 2,
               choices: Sequence[Action] = ("smile", "blink", "turn_left", "turn_right"),
               window_range_s: tuple[float, float] = (2.5, 4.0),
               baseline_s: float = 0.4,
               prompt_during_baseline: bool = False) -> ChallengePlan:
        """A shuffled plan of ``steps`` (>= 2) actions drawn from ``choices`` without repeats:
        one head turn and ``steps - 1`` expressions; windows drawn from ``window_range_s``."""
        turns = [a for a in dict.fromkeys(choices) if a in TURNS]
        others = [a for a in dict.fromkeys(choices) if a in EXPRESSIONS]
        if not turns or not others:
            raise VisionError("the challenge choices need a head turn and a smile or blink")
        if not 2 <= steps <= len(others) + 1:
            raise VisionError(f"steps must be 2..{len(others) + 1} for choices {list(choices)}")
        actions: list[Action] = [rng.choice(turns), *rng.sample(others, steps - 1)]
        rng.shuffle(actions)
        lo, hi = window_range_s
        if not 0 < lo <= hi:
            raise VisionError("window_range_s must be (low, high) with 0 < low <= high")
        return cls(steps=tuple(ChallengeStep(a, round(rng.uniform(lo, hi), 2)) for a in actions),
                   baseline_s=baseline_s, prompt_during_baseline=prompt_during_baseline)


@dataclass(frozen=True)
class ActionLimits:
    """How far from the neutral baseline an action must go (ratios of the person's own
    baseline measures, degrees of yaw) and how long the face may vanish."""

    blink_closed_ratio: float = 0.72  # EAR below this x baseline counts as eyes closed
    blink_open_ratio: float = 0.88  # ...and back above this x baseline as reopened
    smile_ratio: float = 1.10  # mouth width / eye span up by 10 %
    smile_frames: int = 2
    turn_deg: float = 15.0
    turn_frames: int = 2
    max_face_gap_s: float = 0.6
    # A pose change this large makes expression measures meaningless for that frame.
    max_pose_change_for_expression_deg: float = 12.0
    min_parallax: float = PARALLAX_MIN_RESIDUAL
    # Frames with a smaller face (pixels between the eye centres) are not judged at all.
    min_interocular_px: float = 40.0
    # Seconds after the start by which a neutral baseline must have been measured.
    baseline_timeout_s: float = 3.0


@dataclass(frozen=True)
class Baseline:
    """The person's neutral measures, medians over the baseline frames."""

    eye_openness: float
    smile: float
    yaw_deg: float
    pitch_deg: float
    left_eye: float = 0.0
    right_eye: float = 0.0


@dataclass(frozen=True)
class LivenessEvidence:
    """What the session established: each check with its score; ``live`` when all passed."""

    checks: dict[str, CheckResult]
    actions: tuple[Action, ...] = ()

    @property
    def live(self) -> bool:
        """True only when there is at least one check and every check passed."""
        return bool(self.checks) and all(c.passed for c in self.checks.values())

    def as_dict(self) -> dict[str, object]:
        """JSON-ready ``{"live", "checks": {name: {"passed", "score", "detail"}}}``."""
        return {"live": self.live,
                "checks": {k: v.as_dict() for k, v in self.checks.items()}}


@dataclass(frozen=True)
class LivenessStatus:
    """Where a session stands after a frame: state, what to show, and evidence so far."""

    state: State
    action: Action | None
    prompt: str
    step_index: int
    reason: str = ""
    evidence: LivenessEvidence = field(default_factory=lambda: LivenessEvidence({}))

    @property
    def done(self) -> bool:
        """True once the session has passed or failed."""
        return self.state in ("passed", "failed")


def verdict(checks: dict[str, CheckResult],
            extra_checks: Callable[[], dict[str, CheckResult]] | None = None
            ) -> tuple[State, str]:
    """The final state of a liveness run and its reason.

    Adds the results of ``extra_checks`` (when given) to ``checks`` in place, then returns
    ``("passed", "")`` when every check passed, else ``("failed", "name: detail; ...")``
    naming each failed check in order.
    """
    if extra_checks is not None:
        checks.update(extra_checks())
    failed = [c for c in checks.values() if not c.passed]
    if failed:
        return "failed", "; ".join(f"{c.name}: {c.detail}" for c in failed)
    return "passed", ""


class LivenessSession:
    """Runs one challenge plan over a stream of observations."""

    def __init__(self, plan: ChallengePlan, clock: Callable[[], float] = time.monotonic,
                 limits: ActionLimits | None = None,
                 extra_checks: Callable[[], dict[str, CheckResult]] | None = None) -> None:
        self.plan = plan
        self.limits = limits or ActionLimits()
        self._clock = clock
        self._extra = extra_checks
        self._start = clock()
        self._state: State = "baseline"
        self._reason = ""
        self._step = 0
        self._step_start = 0.0
        self._last_face = self._start
        self._base_obs: list[FaceObservation] = []
        self._baseline: Baseline | None = None
        self._landmarks: list[np.ndarray] = []
        self._checks: dict[str, CheckResult] = {}
        self._eyes_closed = False
        self._run = 0
        self._done: list[Action] = []

    @property
    def baseline(self) -> Baseline | None:
        """The neutral baseline once measured."""
        return self._baseline

    def update(self, observation: FaceObservation | None) -> LivenessStatus:
        """Feed the tracker's result for one frame; return the session's status."""
        now = self._clock()
        if self._state in ("passed", "failed"):
            return self._status()
        if observation is None:
            if now - self._last_face > self.limits.max_face_gap_s:
                return self._fail("the face was lost")
            return self._check_timeout(now)
        self._last_face = now
        if observation.face_count > 1:
            return self._fail("more than one face in front of the camera")
        if observation.interocular < self.limits.min_interocular_px:
            # Too small to judge: landmarks of small faces jitter by more than a blink.
            return self._check_timeout(now)
        self._landmarks.append(observation.landmarks)
        if self._state == "baseline":
            self._base_obs.append(observation)
            if (len(self._base_obs) >= self.plan.baseline_frames
                    and now - self._start >= self.plan.baseline_s):
                self._baseline = _baseline(self._base_obs)
                self._state = "challenge"
                # With the prompt already shown, its window has been running since the start.
                self._step_start = self._start if self.plan.prompt_during_baseline else now
            return self._check_timeout(now)
        if self._judge(self.plan.steps[self._step].action, observation):
            self._done.append(self.plan.steps[self._step].action)
            self._checks[self.plan.steps[self._step].action] = CheckResult(
                self.plan.steps[self._step].action, True, now - self._step_start,
                "seconds to respond")
            self._step += 1
            self._eyes_closed = False
            self._run = 0
            self._step_start = now
            if self._step >= len(self.plan.steps):
                return self._finish()
            return self._status()
        return self._check_timeout(now)

    def evidence(self) -> LivenessEvidence:
        """The checks established so far (all of them once the session is done)."""
        return LivenessEvidence(dict(self._checks), tuple(self._done))

    def _judge(self, action: Action, obs: FaceObservation) -> bool:
        base = self._baseline
        assert base is not None
        lim = self.limits
        yaw_change = obs.pose.yaw_deg - base.yaw_deg
        if action in TURNS:
            turned = (yaw_change >= lim.turn_deg if action == "turn_left"
                      else yaw_change <= -lim.turn_deg)
            self._run = self._run + 1 if turned else 0
            return self._run >= lim.turn_frames
        steady = (abs(yaw_change) <= lim.max_pose_change_for_expression_deg
                  and abs(obs.pose.pitch_deg - base.pitch_deg)
                  <= lim.max_pose_change_for_expression_deg)
        if action == "blink":
            m = obs.measures
            closed = (m.left_eye_openness <= base.left_eye * lim.blink_closed_ratio
                      and m.right_eye_openness <= base.right_eye * lim.blink_closed_ratio)
            if steady and closed:
                self._eyes_closed = True
            elif self._eyes_closed and m.eye_openness >= base.eye_openness * lim.blink_open_ratio:
                return True
            return False
        # smile
        if steady and obs.measures.smile >= base.smile * lim.smile_ratio:
            self._run += 1
        else:
            self._run = 0
        return self._run >= lim.smile_frames

    def _check_timeout(self, now: float) -> LivenessStatus:
        if self._state == "baseline" and now - self._start > (
                self.plan.baseline_s + self.limits.baseline_timeout_s):
            return self._fail("the face was not seen well enough (come closer, hold still)")
        if self._state == "challenge":
            step = self.plan.steps[self._step]
            if now - self._step_start > step.window_s:
                self._checks[step.action] = CheckResult(step.action, False, now - self._step_start,
                                                        "not seen in time")
                return self._fail(f"no {step.action.replace('_', ' ')} seen in time")
        return self._status()

    def _finish(self) -> LivenessStatus:
        base, probe = parallax_tracks(self._landmarks)
        self._checks["planar_motion"] = planar_motion_check(
            base, probe, min_residual=self.limits.min_parallax)
        self._state, self._reason = verdict(self._checks, self._extra)
        return self._status()

    def _fail(self, reason: str) -> LivenessStatus:
        self._state = "failed"
        self._reason = reason
        return self._status()

    def _status(self) -> LivenessStatus:
        prompting = self._state == "challenge" or (
            self._state == "baseline" and self.plan.prompt_during_baseline)
        action = (self.plan.steps[self._step].action
                  if prompting and self._step < len(self.plan.steps) else None)
        prompt = {"baseline": "Look at the camera", "passed": "Thank you",
                  "failed": "Sorry, please try again"}.get(self._state, "")
        if action is not None:
            prompt = PROMPTS[action]
        return LivenessStatus(self._state, action, prompt, self._step, self._reason,
                              self.evidence())


def _baseline(observations: Sequence[FaceObservation]) -> Baseline:
    return Baseline(
        eye_openness=float(np.median([o.measures.eye_openness for o in observations])),
        smile=float(np.median([o.measures.smile for o in observations])),
        yaw_deg=float(np.median([o.pose.yaw_deg for o in observations])),
        pitch_deg=float(np.median([o.pose.pitch_deg for o in observations])),
        left_eye=float(np.median([o.measures.left_eye_openness for o in observations])),
        right_eye=float(np.median([o.measures.right_eye_openness for o in observations])),
    )
