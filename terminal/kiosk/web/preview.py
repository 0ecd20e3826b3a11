"""The payment screen's live camera preview: the newest frame as JPEG, in memory only.

Frames are encoded only while a page is watching and a payment or enrollment uses the camera,
at most ``max_fps`` a second, mirrored like a selfie view. Nothing is written anywhere; the
stream is sent with ``Cache-Control: no-store`` so the browser keeps no copy either, and the
frame is dropped as soon as the camera is no longer needed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import numpy as np

BOUNDARY = "scanpayframe"


class PreviewHub:
    """Hands the newest preview frame from the camera thread to the page's stream."""

    def __init__(self, *, max_fps: float = 10.0, width: int = 480,
                 clock: Callable[[], float]) -> None:
        self._min_gap = 1.0 / max_fps
        self._width = width
        self._clock = clock
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._version = 0
        self._last = float("-inf")
        self._watchers = 0

    @property
    def watched(self) -> bool:
        """Whether a page is showing the preview now."""
        return self._watchers > 0

    def offer(self, image: np.ndarray) -> None:
        """A new camera frame (encoded only when watched and due)."""
        now = self._clock()
        if not self._watchers or now - self._last < self._min_gap:
            return
        import cv2

        h, w = image.shape[:2]
        if w > self._width:
            image = cv2.resize(image, (self._width, int(h * self._width / w)),
                               interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", cv2.flip(image, 1), [cv2.IMWRITE_JPEG_QUALITY, 70])
        if not ok:
            return
        with self._cond:
            self._jpeg = buf.tobytes()
            self._version += 1
            self._last = now
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget the last frame (the camera is no longer needed)."""
        with self._cond:
            self._jpeg = None
            self._version += 1
            self._cond.notify_all()

    def wait(self, after: int, timeout_s: float) -> tuple[int, bytes | None]:
        """The frame after version ``after`` (or the current one when ``timeout_s`` passes)."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != after, timeout=timeout_s)
            return self._version, self._jpeg

    async def mjpeg(self, active: Callable[[], bool]) -> AsyncIterator[bytes]:
        """A multipart JPEG stream while ``active()`` says the camera is in use."""
        with self._cond:
            self._watchers += 1
        version = -1
        try:
            while active():
                version, jpeg = await asyncio.to_thread(self.wait, version, 0.5)
                if jpeg is None:
                    continue
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                       f"Content-Length: {len(jpeg)}\r\n\r\n").encode() + jpeg + b"\r\n"
        finally:
            with self._cond:
                self._watchers -= 1
