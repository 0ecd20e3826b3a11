"""Plain value types shared by the face modules: boxes, points, pose, observations, checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Point:
    """A point in image pixels (x to the right, y down)."""

    x: float
    y: float


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in image pixels."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        """The x coordinate of the right edge."""
        return self.left + self.width

    @property
    def bottom(self) -> float:
        """The y coordinate of the bottom edge."""
        return self.top + self.height

    @property
    def center(self) -> Point:
        """The centre of the box."""
        return Point(self.left + self.width / 2.0, self.top + self.height / 2.0)

    @property
    def size(self) -> float:
        """The shorter side, the usual measure of how large a face is."""
        return min(self.width, self.height)

    def scaled(self, factor: float) -> Box:
        """The box scaled by ``factor`` about its centre."""
        c = self.center
        w, h = self.width * factor, self.height * factor
        return Box(c.x - w / 2.0, c.y - h / 2.0, w, h)

    def clipped(self, image_width: int, image_height: int) -> Box:
        """The part of the box inside an image of the given size (may be empty)."""
        left = min(max(self.left, 0.0), float(image_width))
        top = min(max(self.top, 0.0), float(image_height))
        right = min(max(self.right, 0.0), float(image_width))
        bottom = min(max(self.bottom, 0.0), float(image_height))
        return Box(left, top, right - left, bottom - top)

    def slices(self, image_width: int, image_height: int) -> tuple[slice, slice]:
        """Integer (rows, columns) slices of the clipped box, for cropping a numpy image."""
        b = self.clipped(image_width, image_height)
        return (slice(int(b.top), round(b.bottom)), slice(int(b.left), round(b.right)))


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees: yaw (+ = the person turns to their left, the image's right),
    pitch (+ = chin up), roll (+ = head tilts clockwise in the image)."""

    yaw_deg: float
    pitch_deg: float
    roll_deg: float


@dataclass(frozen=True)
class FaceMeasures:
    """Expression measures from landmarks, all scale-free.

    ``eye_openness`` is the mean eye aspect ratio (EAR, about 0.25-0.35 open, < 0.15 closed);
    ``smile`` is the mouth-corner distance divided by the outer-eye-corner distance (rises by
    roughly 10-25 % in a smile); ``mouth_open`` is the lip gap divided by the mouth width.
    """

    eye_openness: float
    left_eye_openness: float
    right_eye_openness: float
    smile: float
    mouth_open: float


@dataclass(frozen=True)
class FaceObservation:
    """One face seen in one frame: where, its landmarks, pose and expression measures.

    ``landmarks`` is an (N, 2) float32 array of pixel coordinates from the tracker backend
    (468 for the MediaPipe face mesh). ``keypoints`` are five named points every backend
    provides: ``right_eye``, ``left_eye`` (centres, the person's own left/right), ``nose_tip``,
    ``mouth_right``, ``mouth_left``; ``right_eye_outer`` etc. may be present too.
    ``face_count`` is how many faces the frame held (the observation describes the largest).
    Nothing here holds pixels.
    """

    timestamp: float
    box: Box
    landmarks: np.ndarray = field(compare=False, repr=False)
    keypoints: dict[str, Point] = field(compare=False)
    pose: HeadPose
    measures: FaceMeasures
    face_count: int
    image_width: int
    image_height: int
    backend: str = "mediapipe"

    @property
    def interocular(self) -> float:
        """Distance between the eye centres in pixels (a scale for the face)."""
        a, b = self.keypoints["right_eye"], self.keypoints["left_eye"]
        return float(np.hypot(a.x - b.x, a.y - b.y))


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one measured check: passed or not, its score and a plain-words detail."""

    name: str
    passed: bool
    score: float
    detail: str = ""
    # What was measured, by name (e.g. a blink's count and depth, a turn's yaw in degrees), so
    # a recorded clip can be judged by its numbers and not only by the verdict.
    observed: dict[str, float | int | None] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict ``{"passed", "score", "detail"}``, plus ``"observed"`` if any."""
        out: dict[str, object] = {"passed": self.passed, "score": round(float(self.score), 4),
                                  "detail": self.detail}
        if self.observed:
            out["observed"] = {k: _rounded(v) for k, v in self.observed.items()}
        return out


def _rounded(value: float | int | None) -> float | int | None:
    if value is None or isinstance(value, int | bool):
        return value
    return round(float(value), 4)
