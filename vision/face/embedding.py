"""Identity embeddings: face_recognition's ResNet on chips aligned with dlib's 5-point model.

The 68-point landmark model is never used (its training data excludes commercial use); the
5-point model and the ResNet are public domain (dlib-models). Test-time augmentation: the
aligned chip and its mirror image are embedded and their unit vectors averaged, which removes
part of the pose/lighting asymmetry (measured on LFW in docs/face.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vision.errors import ModelError, VisionError
from vision.face.types import Box, FaceObservation

log = logging.getLogger(__name__)

EMBEDDING_SIZE = 128
CHIP_SIZE = 150


class NoFaceError(VisionError):
    """No usable face was found to embed."""


@dataclass(frozen=True)
class _DlibModels:
    detector: object
    shape_predictor: object
    recognizer: object


_models: _DlibModels | None = None
_models_lock = threading.Lock()


def _load_models() -> _DlibModels:
    """Load dlib's HOG detector, 5-point predictor and ResNet once per process."""
    global _models
    with _models_lock:
        if _models is None:
            try:
                import warnings

                import dlib

                with warnings.catch_warnings():  # it imports the deprecated pkg_resources
                    warnings.simplefilter("ignore", UserWarning)
                    import face_recognition_models as frm
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ModelError(f"face_recognition models are not installed: {exc}") from exc
            try:
                _models = _DlibModels(
                    detector=dlib.get_frontal_face_detector(),
                    shape_predictor=dlib.shape_predictor(
                        frm.pose_predictor_five_point_model_location()),
                    recognizer=dlib.face_recognition_model_v1(
                        frm.face_recognition_model_location()),
                )
            except RuntimeError as exc:
                raise ModelError(f"cannot load the dlib face models: {exc}") from exc
        return _models


def dlib_box_from_observation(observation: FaceObservation) -> Box:
    """The box dlib's HOG detector would draw, estimated from the eye and mouth key points.

    Measured on LFW: HOG box side = 2.4 x eye-to-mouth distance, centred 0.45 of the way from
    the eye midpoint to the mouth midpoint. The 5-point predictor is trained on such boxes.
    """
    k = observation.keypoints
    eye = np.array([(k["right_eye"].x + k["left_eye"].x) / 2,
                    (k["right_eye"].y + k["left_eye"].y) / 2])
    mouth = np.array([(k["mouth_right"].x + k["mouth_left"].x) / 2,
                      (k["mouth_right"].y + k["mouth_left"].y) / 2])
    em = float(np.linalg.norm(mouth - eye))
    centre = eye + 0.45 * (mouth - eye)
    side = 2.4 * em
    return Box(float(centre[0] - side / 2), float(centre[1] - side / 2), side, side)


def combine_embeddings(embeddings: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Combine several embeddings of one person: mean of unit vectors, re-normalised."""
    arr = np.asarray(embeddings, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise VisionError("combine_embeddings needs at least one embedding")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise VisionError("cannot combine a zero embedding")
    mean = (arr / norms).mean(axis=0)
    n = np.linalg.norm(mean)
    if n == 0:
        raise VisionError("embeddings cancel out")
    return (mean / n).astype(np.float32)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between the unit-length versions of two embeddings (0..2)."""
    va = np.asarray(a, dtype=np.float64).ravel()
    vb = np.asarray(b, dtype=np.float64).ravel()
    if va.shape != vb.shape:
        raise VisionError(f"embedding sizes differ: {va.shape[0]} vs {vb.shape[0]}")
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    if na == 0 or nb == 0 or not (np.isfinite(na) and np.isfinite(nb)):
        raise VisionError("cannot measure a distance to a zero or non-finite embedding")
    return float(np.linalg.norm(va / na - vb / nb))


class Embedder:
    """Computes 128-d identity embeddings of faces (unit length, float32).

    ``flip`` averages the chip with its mirror image; ``jitters`` adds dlib's random
    re-crops (each costs one more ResNet pass, ~50 ms here). With an observation the face
    box comes from its key points; without one dlib's HOG detector finds the largest face.
    """

    def __init__(self, *, flip: bool = True, jitters: int = 0, padding: float = 0.25) -> None:
        if jitters < 0:
            raise VisionError("jitters must be >= 0")
        self.flip = flip
        self.jitters = jitters
        self.padding = padding

    def embed(self, image_bgr: np.ndarray, observation: FaceObservation | None = None
              ) -> np.ndarray:
        """The embedding of the face in ``observation`` (or of the largest face found)."""
        return self.embed_chip(self.chip(image_bgr, observation))

    def chip(self, image_bgr: np.ndarray, observation: FaceObservation | None = None
             ) -> np.ndarray:
        """The 150x150 RGB chip of the face, aligned with dlib's 5-point model (about 1 ms:
        cheap enough for the tracking loop; the ResNet pass is what costs)."""
        import dlib

        models = _load_models()
        rgb = _to_rgb(image_bgr)
        if observation is not None:
            rect = _rect(dlib_box_from_observation(observation))
        else:
            rect = _detect_largest(models, rgb)
        shape = models.shape_predictor(rgb, rect)
        return np.asarray(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=self.padding))

    def embed_chip(self, chip_rgb: np.ndarray) -> np.ndarray:
        """The embedding of an already aligned 150x150 RGB chip."""
        models = _load_models()
        rec = models.recognizer
        vectors = [np.asarray(rec.compute_face_descriptor(chip_rgb, self.jitters)
                              if self.jitters else rec.compute_face_descriptor(chip_rgb))]
        if self.flip:
            mirror = np.ascontiguousarray(chip_rgb[:, ::-1])
            vectors.append(np.asarray(rec.compute_face_descriptor(mirror, self.jitters)
                                      if self.jitters else rec.compute_face_descriptor(mirror)))
        return combine_embeddings(vectors)

    def embed_frames(self, frames: Iterable[tuple[np.ndarray, FaceObservation | None]]
                     ) -> np.ndarray:
        """One combined embedding from several frames of the same person."""
        vectors = [self.embed(image, obs) for image, obs in frames]
        if not vectors:
            raise NoFaceError("no frames to embed")
        return combine_embeddings(vectors)


def _to_rgb(image_bgr: np.ndarray) -> np.ndarray:
    import cv2

    if not isinstance(image_bgr, np.ndarray) or image_bgr.dtype != np.uint8:
        raise VisionError("an image must be a uint8 numpy array")
    if image_bgr.ndim == 2:
        return cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2RGB)
    if image_bgr.ndim == 3 and image_bgr.shape[2] == 3:
        return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    if image_bgr.ndim == 3 and image_bgr.shape[2] == 4:
        return cv2.cvtColor(image_bgr, cv2.COLOR_BGRA2RGB)
    raise VisionError(f"unsupported image shape {image_bgr.shape}")


def _rect(box: Box) -> object:
    import dlib

    return dlib.rectangle(round(box.left), round(box.top),
                          round(box.right), round(box.bottom))


def _detect_largest(models: _DlibModels, rgb: np.ndarray) -> object:
    found = models.detector(rgb, 1)
    if len(found) == 0:
        raise NoFaceError("no face found")
    return max(found, key=lambda r: r.width() * r.height())


def embed_still(image_bgr: np.ndarray, embedder: Embedder, tracker: object | None = None
                ) -> np.ndarray:
    """Embed the largest face of a still image.

    The face is located with ``tracker`` (a :class:`~vision.face.tracker.FaceTracker` in image
    mode) when given, falling back to dlib's HOG detector when it finds nothing; raises
    :class:`NoFaceError` when neither finds a face.
    """
    if tracker is not None:
        obs = tracker.process(image_bgr, 0.0)  # type: ignore[attr-defined]
        if obs is not None:
            return embedder.embed(image_bgr, obs)
    return embedder.embed(image_bgr, None)
