"""A camera that plays an image, a folder of images or a video file.

Face work plays EyeBlink8 clips and still photos through it; tests play images they write.
"""

from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hardware.cameras.base import (
    CameraBase,
    Clock,
    as_bgr,
    check_size,
    load_image,
    resize_to,
)
from hardware.cameras.pacing import FramePacer, Wait
from hardware.errors import CameraError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jp2"}
)
SourceKind = Literal["image", "folder", "video"]
_FALLBACK_FPS = 30.0


def _natural_key(path: Path) -> list[Any]:
    """Sort key so that frame2.png comes before frame10.png."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", path.name)]


class _Video:
    """An open cv2.VideoCapture with its first frame already read."""

    def __init__(self, path: Path) -> None:
        import cv2

        self.path = path
        self._cap = cv2.VideoCapture(str(path))
        first: np.ndarray | None = None
        if self._cap.isOpened():
            ok, image = self._cap.read()
            first = as_bgr(image) if ok and image is not None else None
        if first is None:
            self._cap.release()
            raise CameraError(f"cannot read {path} as a video (no decodable frames)")
        self._pending: np.ndarray | None = first
        self.first_shape = first.shape
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if math.isfinite(fps) and 0 < fps < 1000 else None

    def next(self) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        ok, image = self._cap.read()
        return as_bgr(image) if ok and image is not None else None

    def release(self) -> None:
        self._cap.release()


def read_video(path: Path | str, *, limit: int | None = None
               ) -> tuple[list[np.ndarray], float | None]:
    """The frames of a short video held in memory (at most ``limit``) and the frame rate it
    states (None when it states none); CameraError when it has no decodable frame."""
    video = _Video(Path(path))
    frames: list[np.ndarray] = []
    try:
        while limit is None or len(frames) < limit:
            image = video.next()
            if image is None:
                break
            frames.append(image)
    finally:
        video.release()
    return frames, video.fps


class FileCamera(CameraBase):
    """Plays a file source as a camera.

    ``path`` is an image, a folder of images (played in natural name order) or a video
    file. Each still image is delivered ``repeat`` times in a row; ``loop=True`` restarts the
    source forever when it ends; ``limit`` caps the total number of frames. ``size``
    (width, height) rescales every frame; without it frames keep the size of the first one.

    Timestamps come from ``clock`` unless ``fps`` is given: then frame i is stamped
    ``i / fps`` (deterministic media time); ``fps="native"`` uses the video's own rate.

    ``max_fps`` paces reading like a real camera: frames are at least ``1 / max_fps`` apart
    on ``clock``, waited for with ``wait(seconds)`` (default: a real wait that ``close()``
    ends). Without it frames come as fast as they are read (tests, benchmarks).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        loop: bool = False,
        clock: Clock = time.monotonic,
        size: tuple[int, int] | None = None,
        repeat: int = 1,
        limit: int | None = None,
        fps: float | Literal["native"] | None = None,
        max_fps: float | None = None,
        wait: Wait | None = None,
    ) -> None:
        self._path = Path(path)
        self._pacer = None if max_fps is None else FramePacer(max_fps, clock=clock, wait=wait)
        self._loop = bool(loop)
        if int(repeat) < 1:
            raise CameraError(f"repeat must be >= 1, got {repeat}")
        if limit is not None and int(limit) < 0:
            raise CameraError(f"limit must be >= 0, got {limit}")
        self._repeat = int(repeat)
        self._limit = None if limit is None else int(limit)
        self._stills: list[Path] = []
        self._still_pos = 0  # position in stills * repeat
        self._video: _Video | None = None
        self._cached: tuple[Path, np.ndarray] | None = None
        self._kind: SourceKind
        self._native_fps: float | None = None
        first_shape = self._open_source()
        out_size = check_size(size) or (int(first_shape[1]), int(first_shape[0]))
        super().__init__(out_size, clock=clock)
        self._media_fps = self._resolve_fps(fps)

    # -- opening -------------------------------------------------------------------------

    def _open_source(self) -> tuple[int, ...]:
        path = self._path
        if not path.exists():
            raise CameraError(f"camera source not found: {path}")
        if path.is_dir():
            self._kind = "folder"
            self._stills = sorted(
                (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                key=_natural_key,
            )
            if not self._stills:
                raise CameraError(f"no image files in folder {path}")
            first = self._read_still(0)
            return first.shape
        if path.suffix.lower() in IMAGE_SUFFIXES:
            first_img = load_image(path)
            if first_img is None:
                raise CameraError(f"cannot decode image file {path}")
            self._kind = "image"
            self._stills = [path]
            self._cached = (path, first_img)
            return first_img.shape
        try:
            self._video = _Video(path)
        except CameraError:
            still = load_image(path)
            if still is None:
                raise CameraError(f"cannot read {path} as an image or a video") from None
            self._kind = "image"
            self._stills = [path]
            self._cached = (path, still)
            return still.shape
        self._kind = "video"
        self._native_fps = self._video.fps
        return self._video.first_shape

    def _resolve_fps(self, fps: float | Literal["native"] | None) -> float | None:
        if fps is None:
            return None
        if fps == "native":
            if self._kind != "video":
                raise CameraError(
                    f"fps='native' needs a video file, {self._path} is a {self._kind}"
                )
            if self._native_fps is None:
                logger.warning("%s does not state its frame rate; assuming %.0f fps",
                               self._path, _FALLBACK_FPS)
            return self._native_fps or _FALLBACK_FPS
        try:
            value = float(fps)
        except (TypeError, ValueError):
            raise CameraError(f"fps must be a positive number or 'native', got {fps!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise CameraError(f"fps must be a positive number or 'native', got {fps!r}")
        return value

    # -- properties ----------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The file or folder being played."""
        return self._path

    @property
    def source_kind(self) -> SourceKind:
        """"image", "folder" or "video"."""
        return self._kind

    @property
    def native_fps(self) -> float | None:
        """The frame rate a video file states, None for stills or when the file has none."""
        return self._native_fps

    # -- reading -------------------------------------------------------------------------

    def _timestamp(self) -> float:
        if self._media_fps is not None:
            return self.frames_read / self._media_fps
        return super()._timestamp()

    def _read_still(self, i: int) -> np.ndarray:
        path = self._stills[i]
        cached = self._cached
        if cached is not None and cached[0] == path:
            return cached[1]
        image = load_image(path)
        if image is None:
            raise CameraError(f"cannot decode image file {path}")
        self._cached = (path, image)
        return image

    def _grab(self) -> np.ndarray | None:
        if self._limit is not None and self.frames_read >= self._limit:
            return None
        if self._pacer is not None:
            self._pacer.pace()
        image = self._next_video() if self._kind == "video" else self._next_still()
        return None if image is None else resize_to(image, self.size)

    def _next_still(self) -> np.ndarray | None:
        total = len(self._stills) * self._repeat
        if self._still_pos >= total:
            if not self._loop:
                return None
            self._still_pos = 0
        image = self._read_still(self._still_pos // self._repeat)
        self._still_pos += 1
        return image.copy()  # each frame owns its pixels, as with a real camera

    def _next_video(self) -> np.ndarray | None:
        video = self._video
        if video is None:
            return None
        image = video.next()
        if image is None and self._loop:
            video.release()
            self._video = video = _reopen(self._path)
            image = video.next() if video is not None else None
        return image

    def _release(self) -> None:
        if self._pacer is not None:
            self._pacer.interrupt()
        if self._video is not None:
            self._video.release()
            self._video = None
        self._cached = None


def _reopen(path: Path) -> _Video | None:
    try:
        return _Video(path)
    except CameraError:
        logger.warning("could not reopen %s to loop it; ending playback", path)
        return None
