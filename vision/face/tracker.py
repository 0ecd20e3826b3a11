"""Face tracking: detection plus landmarks on every frame (MediaPipe face mesh by default).

MediaPipe's face mesh was chosen by measurement (see docs/face.md): about 3-5 ms per 640x480
frame for detection plus 468 landmarks on this 2-core machine, against 17-70 ms for dlib's HOG
detector. Its models ship inside the mediapipe wheel (Apache-2.0); nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Literal, Protocol

import numpy as np

from vision.errors import VisionError
from vision.face.geometry import head_pose, mesh_keypoints, mesh_measures
from vision.face.types import Box, FaceObservation

log = logging.getLogger(__name__)

Mode = Literal["video", "image"]


class TrackerError(VisionError):
    """The face tracker cannot start or was given a frame it cannot read."""


class LandmarkBackend(Protocol):
    """Finds faces and their landmarks in one RGB frame."""

    name: str

    def landmarks(self, image_rgb: np.ndarray) -> list[np.ndarray]:
        """All faces found, each an (N, 2) float32 array of pixel coordinates."""
        ...

    def close(self) -> None:
        """Release the backend's resources (idempotent)."""
        ...


class MediaPipeMeshBackend:
    """MediaPipe face mesh (468 points); ``mode="video"`` tracks between frames."""

    name = "mediapipe"

    def __init__(self, mode: Mode = "video", max_faces: int = 2,
                 min_detection_confidence: float = 0.5, refine: bool = True) -> None:
        # Quieten MediaPipe's native start-up logging (only if the user has not chosen).
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import warnings

        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype",
                                category=UserWarning)
        try:
            import mediapipe as mp
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise TrackerError(f"mediapipe is not installed: {exc}") from exc
        # The graph's threads print native (absl/TFLite) start-up notices on fd 2 while it
        # starts; one warm-up inference on a blank image waits for them, silenced.
        with _native_stderr_silenced():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=(mode == "image"),
                max_num_faces=max_faces,
                refine_landmarks=refine,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=0.5,
            )
            try:
                self._mesh.process(np.zeros((64, 64, 3), dtype=np.uint8))
            except BaseException:
                self._mesh.close()
                raise
        self._closed = False

    def landmarks(self, image_rgb: np.ndarray) -> list[np.ndarray]:
        """All faces found, each a (468, 2) float32 array of pixel coordinates."""
        if self._closed:
            raise TrackerError("the face tracker is closed")
        h, w = image_rgb.shape[:2]
        result = self._mesh.process(image_rgb)
        faces: list[np.ndarray] = []
        for face in result.multi_face_landmarks or ():
            pts = np.array([(p.x * w, p.y * h) for p in face.landmark], dtype=np.float32)
            faces.append(pts)
        return faces

    def close(self) -> None:
        """Release the graph (idempotent)."""
        if not self._closed:
            self._closed = True
            self._mesh.close()


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block (native libraries write there).

    Only used while MediaPipe's graph starts; Python-level errors still reach
    ``sys.stderr`` afterwards. If descriptors cannot be duplicated, nothing is silenced.
    """
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _make_backend(name: str, mode: Mode) -> LandmarkBackend:
    if name == "mediapipe":
        return MediaPipeMeshBackend(mode=mode)
    raise TrackerError(f"unknown face tracker backend {name!r} (known: mediapipe)")


class FaceTracker:
    """Turns camera frames into :class:`FaceObservation` s, one call per frame.

    ``backend`` is a backend name or an object with the :class:`LandmarkBackend` shape;
    ``mode="video"`` tracks across consecutive frames of one camera, ``mode="image"`` treats
    every frame on its own (use it for unrelated still images). ``clock`` supplies the
    timestamp when :meth:`process` is not given one. Use as a context manager or call close().
    """

    def __init__(self, backend: str | LandmarkBackend = "mediapipe", *, mode: Mode = "video",
                 clock: Callable[[], float] | None = None) -> None:
        import time

        self._backend = _make_backend(backend, mode) if isinstance(backend, str) else backend
        self._clock = clock or time.monotonic
        self._closed = False

    @property
    def backend_name(self) -> str:
        """The name of the landmark backend in use."""
        return self._backend.name

    def process(self, image_bgr: np.ndarray, timestamp: float | None = None
                ) -> FaceObservation | None:
        """Observe the largest face in a BGR frame; None when the frame shows no face."""
        import cv2

        if self._closed:
            raise TrackerError("the face tracker is closed")
        image = _check_frame(image_bgr)
        ts = self._clock() if timestamp is None else float(timestamp)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else cv2.cvtColor(
            image, cv2.COLOR_GRAY2RGB)
        faces = self._backend.landmarks(rgb)
        if not faces:
            return None
        h, w = image.shape[:2]
        lm = max(faces, key=_landmark_area)
        return observation_from_mesh(lm, ts, w, h, face_count=len(faces),
                                     backend=self._backend.name)

    def close(self) -> None:
        """Release the backend (idempotent)."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def observation_from_mesh(lm: np.ndarray, timestamp: float, image_width: int,
                          image_height: int, face_count: int = 1,
                          backend: str = "mediapipe") -> FaceObservation:
    """Build an observation from 468 mesh landmarks in pixels (also used by tests)."""
    lm = np.asarray(lm, dtype=np.float32)
    x0, y0 = lm.min(axis=0)
    x1, y1 = lm.max(axis=0)
    return FaceObservation(
        timestamp=timestamp,
        box=Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
        landmarks=lm,
        keypoints=mesh_keypoints(lm),
        pose=head_pose(lm, image_width, image_height),
        measures=mesh_measures(lm),
        face_count=face_count,
        image_width=image_width,
        image_height=image_height,
        backend=backend,
    )


def _landmark_area(lm: np.ndarray) -> float:
    span = lm.max(axis=0) - lm.min(axis=0)
    return float(span[0] * span[1])


def _check_frame(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TrackerError("a frame must be a uint8 numpy array (BGR or grey)")
    if image.ndim == 3 and image.shape[2] == 4:
        import cv2

        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise TrackerError(f"a frame must be HxW or HxWx3, got shape {image.shape}")
    if image.shape[0] < 16 or image.shape[1] < 16:
        raise TrackerError(f"frame too small: {image.shape[1]}x{image.shape[0]}")
    return np.ascontiguousarray(image)
