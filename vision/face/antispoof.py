"""Optional passive anti-spoofing with MiniFASNet (Silent-Face, Apache-2.0) ONNX models.

Input per the model card: the face box scaled by the model's factor about its centre (clipped
to the image), resized to 80x80, BGR 0..255 float, no normalisation; softmax over 3 logits,
index 1 = real. Upstream averages the V2 (x2.7) and V1SE (x4.0) models. Measured limits: it
rejects phone/monitor replays but accepts paper masks and cut-out prints (docs/face.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.errors import ModelError
from vision.face.types import Box, CheckResult, FaceObservation
from vision.models import load_onnx_session

INPUT_SIZE = 80


@dataclass(frozen=True)
class AntiSpoofModelSpec:
    """One MiniFASNet file: its path, expected sha256 and crop scale."""

    path: str
    sha256: str
    crop_scale: float


class AntiSpoofModel:
    """One or more MiniFASNet models whose real-class probabilities are averaged."""

    def __init__(self, sessions: Sequence[tuple[object, float]]) -> None:
        if not sessions:
            raise ModelError("an anti-spoof model needs at least one ONNX session")
        self._sessions = list(sessions)

    @classmethod
    def load(cls, specs: Sequence[AntiSpoofModelSpec]) -> AntiSpoofModel:
        """Load and checksum-verify each model file."""
        return cls([(load_onnx_session(Path(s.path), s.sha256), s.crop_scale) for s in specs])

    def real_probability(self, image_bgr: np.ndarray, box: Box) -> float:
        """Mean probability (0..1) over the models that the face in ``box`` is real."""
        probs = []
        for session, scale in self._sessions:
            x = _crop(image_bgr, box, scale)
            name = session.get_inputs()[0].name  # type: ignore[attr-defined]
            logits = np.asarray(session.run(None, {name: x})[0], dtype=np.float64).ravel()
            e = np.exp(logits - logits.max())
            probs.append(float(e[1] / e.sum()))
        return float(np.mean(probs))

    def check(self, image_bgr: np.ndarray, observation: FaceObservation,
              min_real: float = 0.5) -> CheckResult:
        """The ``antispoof_model`` check: passed when P(real) >= ``min_real``."""
        p = self.real_probability(image_bgr, observation.box)
        return CheckResult("antispoof_model", p >= min_real, p,
                           f"MiniFASNet probability of a real face (limit {min_real})")


def _crop(image_bgr: np.ndarray, box: Box, scale: float) -> np.ndarray:
    """The model input: the face box scaled about its centre, clipped, resized, NCHW float."""
    import cv2

    h, w = image_bgr.shape[:2]
    # As upstream: the scale shrinks to fit the image, and the box is shifted (not clipped)
    # to stay inside it.
    s = min(scale, (h - 1) / max(box.height, 1.0), (w - 1) / max(box.width, 1.0))
    bw, bh = box.width * s, box.height * s
    c = box.center
    left = min(max(c.x - bw / 2, 0.0), w - 1 - bw)
    top = min(max(c.y - bh / 2, 0.0), h - 1 - bh)
    crop = image_bgr[int(top):int(top + bh) + 1, int(left):int(left + bw) + 1]
    if crop.size == 0:
        crop = image_bgr
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    patch = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(patch.transpose(2, 0, 1)[None].astype(np.float32))
