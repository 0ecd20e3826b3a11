"""Synthetic faces for the Smile-to-Pay tests: observations built directly, no real images.

A :class:`Person` is a cloud of 3-D landmarks (a flat one for a photo or a screen) that
answers the prompts it is shown — or not, for a still photo. :class:`ScriptedSensor` stands in
for vision: it hands out the person's observations, gates them on face size, returns the
person's identity embedding, and runs vision's real :class:`LivenessSession`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from vision.face.embedding import NoFaceError, distance
from vision.face.liveness import ChallengePlan, ChallengeStep, LivenessSession
from vision.face.probe import Probe
from vision.face.quality import QualityGate, QualityReport
from vision.face.types import Box, FaceMeasures, FaceObservation, HeadPose, Point

FPS = 15.0
IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)


def identity(seed: int) -> np.ndarray:
    """A unit 128-d identity vector."""
    v = np.random.default_rng(seed).normal(size=128)
    return v / np.linalg.norm(v)


# Mesh indices with fixed places (mm, z away from the camera): eye corners, brow, cheeks and
# chin on the face's back surface, and the nose standing out of it.
_ANCHORS: dict[int, tuple[float, float, float]] = {
    33: (-45, -20, 0), 133: (-15, -20, 0), 362: (15, -20, 0), 263: (45, -20, 0),
    151: (0, -60, 0), 9: (0, -35, 0), 50: (-40, 20, 0), 280: (40, 20, 0), 117: (-45, 5, 0),
    346: (45, 5, 0), 199: (0, 65, 0), 1: (0, 10, -35), 4: (0, 5, -33), 5: (0, 0, -30),
}


class Person:
    """A face in front of the camera that reacts to the prompt on screen."""

    def __init__(self, *, flat: bool = False, responsive: bool = True, seed: int = 0) -> None:
        rng = np.random.default_rng(1234)
        xy = rng.uniform(-60.0, 60.0, size=(468, 2))
        z = 30.0 * (xy ** 2).sum(axis=1) / (2 * 60.0 ** 2)  # cheeks curve away from the camera
        points = np.column_stack([xy, z])
        for index, xyz in _ANCHORS.items():
            points[index] = xyz
        if flat:
            points[:, 2] = 0.0
        self.points = points
        self.responsive = responsive
        self.jitter = np.random.default_rng(seed)
        self.action: str | None = None
        self.phase = 0
        self.yaw = 0.0

    def observe(self, t: float, action: str | None) -> FaceObservation:
        """The observation of the next frame, given the action the screen asks for."""
        if action != self.action:
            self.action, self.phase = action, 0
        self.phase += 1
        act = action if self.responsive else None
        ear, smile = 0.30, 0.50
        if act in ("turn_left", "turn_right"):
            target = 25.0 if act == "turn_left" else -25.0
            self.yaw += float(np.clip(target - self.yaw, -6.0, 6.0))
        else:
            self.yaw *= 0.8  # the head comes back slowly
            if act == "blink" and self.phase in (3, 4):
                ear = 0.10
            if act == "smile" and self.phase >= 3:
                smile = 0.62
        ear += float(self.jitter.normal(0, 0.004))
        return self._observation(t, self.yaw, ear, smile)

    def _observation(self, t: float, yaw: float, ear: float, smile: float) -> FaceObservation:
        a = np.radians(yaw)
        rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        p = self.points @ rot.T
        depth = 500.0 + p[:, 2]
        lm = np.column_stack([320 + 600 * p[:, 0] / depth, 240 + 600 * p[:, 1] / depth])
        lm = lm.astype(np.float32)
        return FaceObservation(
            timestamp=t,
            box=Box(240.0, 160.0, 160.0, 160.0),
            landmarks=lm,
            keypoints={"right_eye": Point(290, 220), "left_eye": Point(350, 220),
                       "nose_tip": Point(320, 250), "mouth_right": Point(300, 280),
                       "mouth_left": Point(340, 280)},
            pose=HeadPose(yaw, 0.0, 0.0),
            measures=FaceMeasures(ear, ear, ear, smile, 0.05),
            face_count=1,
            image_width=640,
            image_height=480,
            backend="synthetic",
        )


class ScriptedSensor:
    """The flows' FaceSensor over synthetic observations (set ``next`` before each frame)."""

    def __init__(self, embedding: np.ndarray, *, clock, seed: int = 7,
                 quality_ok: bool = True) -> None:
        self.embedding = embedding
        self.clock = clock
        self.rng = random.Random(seed)
        self.quality_ok = quality_ok
        self.next: FaceObservation | None = None
        self.embedded: list[int] = []
        self.plans: list[ChallengePlan] = []
        self.later_identity: np.ndarray | None = None  # someone else after the probe frames

    def observe(self, image, timestamp):
        return self.next

    def quality(self, observation, image) -> QualityReport:
        ok = self.quality_ok and observation.interocular >= 40
        return QualityReport((QualityGate("face_size", observation.interocular, ">= 40 px", ok,
                                          "come closer to the camera"),))

    def embed(self, samples: Sequence) -> np.ndarray:
        self.embedded.append(len(samples))
        noise = np.random.default_rng(len(self.embedded)).normal(size=128)
        v = self.embedding + 0.05 * noise / np.linalg.norm(noise)
        return v / np.linalg.norm(v)

    def start_probe(self) -> ScriptedProbe:
        return ScriptedProbe(self)

    def new_liveness(self) -> LivenessSession:
        # A head turn first, then a random expression: the turn's frames then make up enough
        # of the session for the parallax check (vision's calibration, not this flow's).
        plan = ChallengePlan((
            ChallengeStep(self.rng.choice(["turn_left", "turn_right"]), 3.0),
            ChallengeStep(self.rng.choice(["blink", "smile"]), 3.0),
        ))
        self.plans.append(plan)
        return LivenessSession(plan, clock=self.clock)

    def close(self) -> None:
        pass


class ScriptedProbe:
    """The sensor's probe collector: the first ``frames`` offers make the probe, every later one
    is a check frame of whoever is in front of the camera by then (``sensor.later_identity``,
    default the same person)."""

    def __init__(self, sensor: ScriptedSensor, frames: int = 3) -> None:
        self.sensor = sensor
        self.frames = frames
        self.taken: list[float] = []
        self.checks = 0

    @property
    def wanted(self) -> bool:
        return len(self.taken) < self.frames

    def offer(self, image, observation, timestamp: float, *, good: bool = True) -> bool:
        if self.wanted and not good:
            return False
        if self.wanted:
            self.taken.append(timestamp)
        else:
            self.checks += 1
        return True

    def finish(self) -> Probe:
        if not self.taken:
            raise NoFaceError("no frame taken")
        probe = self.sensor.embed([None] * len(self.taken))
        later = self.sensor.later_identity
        continuity = 0.05 if later is None else distance(probe, later)
        return Probe(probe, continuity if self.checks else 0.0, self.checks)

    def discard(self) -> None:
        self.taken.clear()
        self.checks = 0
