"""Quality gates a face must pass before it is embedded: size, pose, blur, exposure, one face.

Every gate reports its measured value, its limit and pass/fail, so a screen can say exactly
what to fix ("come closer", "look at the camera"). Limits are parameters with defaults tuned
for a 640x480 kiosk camera; the caller (terminal config) may override them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.face.types import FaceObservation


@dataclass(frozen=True)
class QualityGate:
    """One gate: what was measured, the limit, and whether the face passed."""

    name: str
    value: float
    limit: str
    passed: bool
    hint: str

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict of the gate."""
        return {"value": round(float(self.value), 3), "limit": self.limit,
                "passed": self.passed, "hint": self.hint}


@dataclass(frozen=True)
class QualityReport:
    """All gates of one observation; ``passed`` only when every gate passed."""

    gates: tuple[QualityGate, ...]

    @property
    def passed(self) -> bool:
        """True when every gate passed."""
        return all(g.passed for g in self.gates)

    @property
    def failed(self) -> tuple[QualityGate, ...]:
        """The gates that did not pass, in order."""
        return tuple(g for g in self.gates if not g.passed)

    def gate(self, name: str) -> QualityGate:
        """The gate called ``name`` (KeyError if there is none)."""
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(name)


@dataclass(frozen=True)
class QualityLimits:
    """Limits of the quality gates (pixels, degrees, grey levels)."""

    # Distance between the eye centres; 40 px is about a 100 px face.
    min_interocular_px: float = 40.0
    max_yaw_deg: float = 25.0
    max_pitch_deg: float = 25.0
    max_roll_deg: float = 25.0
    # Variance of the Laplacian of the face crop resized to 128 px wide (sharpness).
    min_sharpness: float = 40.0
    # Mean grey level of the face crop.
    min_brightness: float = 50.0
    max_brightness: float = 210.0
    # Share of face pixels at 0-5 or 250-255 (blown out or crushed).
    max_clipped_fraction: float = 0.25
    max_faces: int = 1


def face_crop_grey(image_bgr: np.ndarray, observation: FaceObservation, width: int = 128
                   ) -> np.ndarray:
    """The face box as a grey crop resized to ``width`` px wide (empty when off-image)."""
    import cv2

    h, w = image_bgr.shape[:2]
    rows, cols = observation.box.slices(w, h)
    crop = image_bgr[rows, cols]
    if crop.size == 0:
        return np.zeros((0, 0), dtype=np.uint8)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    scale = width / grey.shape[1]
    return cv2.resize(grey, (width, max(1, round(grey.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA)


def sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian (higher = sharper); 0 for an empty image."""
    import cv2

    if grey.size == 0:
        return 0.0
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess_quality(observation: FaceObservation, image_bgr: np.ndarray,
                   limits: QualityLimits | None = None) -> QualityReport:
    """Measure one observed face against the quality gates (size, pose, blur, exposure, count)."""
    lim = limits or QualityLimits()
    grey = face_crop_grey(image_bgr, observation)
    pose = observation.pose
    brightness = float(grey.mean()) if grey.size else 0.0
    clipped = float(((grey <= 5) | (grey >= 250)).mean()) if grey.size else 1.0
    sharp = sharpness(grey)
    iod = observation.interocular
    gates = (
        QualityGate("one_face", observation.face_count, f"<= {lim.max_faces}",
                    observation.face_count <= lim.max_faces, "only one person in front, please"),
        QualityGate("face_size", iod, f">= {lim.min_interocular_px:g} px between the eyes",
                    iod >= lim.min_interocular_px, "come closer to the camera"),
        QualityGate("yaw", abs(pose.yaw_deg), f"<= {lim.max_yaw_deg:g} deg",
                    abs(pose.yaw_deg) <= lim.max_yaw_deg, "look straight at the camera"),
        QualityGate("pitch", abs(pose.pitch_deg), f"<= {lim.max_pitch_deg:g} deg",
                    abs(pose.pitch_deg) <= lim.max_pitch_deg, "hold your head level"),
        QualityGate("roll", abs(pose.roll_deg), f"<= {lim.max_roll_deg:g} deg",
                    abs(pose.roll_deg) <= lim.max_roll_deg, "hold your head upright"),
        QualityGate("sharpness", sharp, f">= {lim.min_sharpness:g}",
                    sharp >= lim.min_sharpness, "hold still"),
        QualityGate("brightness", brightness,
                    f"{lim.min_brightness:g}..{lim.max_brightness:g}",
                    lim.min_brightness <= brightness <= lim.max_brightness,
                    "too dark" if brightness < lim.min_brightness else "too bright"),
        QualityGate("clipping", clipped, f"<= {lim.max_clipped_fraction:g}",
                    clipped <= lim.max_clipped_fraction, "avoid strong light on the face"),
    )
    return QualityReport(gates)
