"""Shared behaviour of every camera backend: frame numbering, clock, closing, iteration."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from hardware.errors import CameraError
from hardware.ports import Clock, Frame


def check_size(size: tuple[int, int] | None, what: str = "size") -> tuple[int, int] | None:
    """Validate a (width, height) pair; CameraError when it is not two positive integers."""
    if size is None:
        return None
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise CameraError(f"{what} must be (width, height), got {size!r}") from None
    if width <= 0 or height <= 0 or width > 16384 or height > 16384:
        raise CameraError(f"{what} must be positive and at most 16384, got {size!r}")
    return width, height


class CameraBase:
    """Numbers frames, stamps them with the injected clock and handles closing.

    Subclasses implement ``_grab()`` (next BGR image, or None at the end of the source) and
    ``_release()``; they set ``self._size`` before the first read.
    """

    def __init__(self, size: tuple[int, int], *, clock: Clock = time.monotonic) -> None:
        self._size = size
        self._clock = clock
        self._next_index = 0
        self._closed = False

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames this camera delivers."""
        return self._size

    @property
    def closed(self) -> bool:
        """True once ``close()`` has been called."""
        return self._closed

    @property
    def frames_read(self) -> int:
        """How many frames this camera has delivered so far."""
        return self._next_index

    def read(self) -> Frame | None:
        """The next frame, or None when the source has ended."""
        if self._closed:
            raise CameraError(f"{type(self).__name__} is closed")
        image = self._grab()
        if image is None:
            return None
        frame = Frame(image=image, timestamp=self._timestamp(), index=self._next_index)
        self._next_index += 1
        return frame

    def _timestamp(self) -> float:
        return float(self._clock())

    def _grab(self) -> np.ndarray | None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free device resources (called once)."""

    def close(self) -> None:
        """Release the source; calling it again does nothing."""
        if not self._closed:
            self._closed = True
            self._release()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Best effort: a forgotten camera must not keep the device busy.
        try:
            if not getattr(self, "_closed", True):
                self.close()
        except Exception:
            pass  # nothing sensible to do during finalisation


def resize_to(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """``image`` scaled to ``size`` (width, height); unchanged when it already has that size."""
    if size is None or (image.shape[1], image.shape[0]) == size:
        return image
    import cv2

    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interp)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """``image`` (grey, BGR or BGRA, any integer depth) as BGR uint8."""
    import cv2

    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def load_image(path: str | Path) -> np.ndarray | None:
    """The image file at ``path`` as BGR uint8, or None when OpenCV cannot decode it."""
    import cv2

    try:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    return None if image is None else as_bgr(image)
