"""The Raspberry Pi camera through picamera2 (libcamera), imported only when opened.

Two streams run together: a full-resolution "main" stream (BGR) for when a sharp crop is
needed, and a low-resolution "lores" YUV420 stream that ``read()`` delivers for detection,
which keeps per-frame work small on a Pi.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from hardware.cameras.base import CameraBase, Clock, check_size
from hardware.errors import CameraError

logger = logging.getLogger(__name__)


def yuv420_to_bgr(yuv: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A planar YUV420 (I420) buffer, possibly row-padded, as a BGR image of ``size``.

    picamera2 returns the lores stream as an array of shape (height * 3 / 2, stride) with
    stride >= width; the padding columns are cut off after conversion.
    """
    import cv2

    width, height = size
    if yuv.ndim != 2 or yuv.shape[0] != height * 3 // 2 or yuv.shape[1] < width:
        raise CameraError(
            f"expected a YUV420 buffer of {height * 3 // 2} rows and >= {width} columns, "
            f"got shape {yuv.shape}"
        )
    bgr = cv2.cvtColor(np.ascontiguousarray(yuv), cv2.COLOR_YUV2BGR_I420)
    return np.ascontiguousarray(bgr[:, :width])


class PiCamera(CameraBase):
    """A Pi camera module: ``read()`` gives ``size`` frames from the lores stream."""

    def __init__(
        self,
        size: tuple[int, int] = (640, 480),
        *,
        main_size: tuple[int, int] = (1280, 960),
        fps: float = 15,
        camera_num: int = 0,
        clock: Clock = time.monotonic,
    ) -> None:
        lores = check_size(size)
        main = check_size(main_size, "main_size")
        assert lores is not None and main is not None
        if lores[0] > main[0] or lores[1] > main[1]:
            raise CameraError(f"size {lores} must not exceed main_size {main}")
        if lores[0] % 2 or lores[1] % 2:
            raise CameraError(f"size must have even width and height for YUV420, got {lores}")
        if not (math.isfinite(fps) and 0 < fps <= 120):
            raise CameraError(f"fps must be in (0, 120], got {fps}")
        super().__init__(lores, clock=clock)
        self._main_size = main
        self._cam = _start(camera_num, main, lores, fps)

    def _grab(self) -> np.ndarray | None:
        try:
            yuv = self._cam.capture_array("lores")
        except Exception as exc:  # picamera2 raises plain RuntimeErrors
            raise CameraError(f"the Pi camera stopped delivering frames: {exc}") from exc
        return yuv420_to_bgr(yuv, self.size)

    def capture_main(self) -> np.ndarray:
        """One full-resolution BGR image from the main stream (for a sharp crop)."""
        if self.closed:
            raise CameraError("PiCamera is closed")
        try:
            # picamera2's "RGB888" is stored B, G, R in memory: already OpenCV's order.
            image = self._cam.capture_array("main")
        except Exception as exc:
            raise CameraError(f"the Pi camera stopped delivering frames: {exc}") from exc
        return np.ascontiguousarray(image[..., :3])

    def _release(self) -> None:
        try:
            self._cam.stop()
        finally:
            self._cam.close()


def _start(camera_num: int, main: tuple[int, int], lores: tuple[int, int], fps: float) -> Any:
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise CameraError(
            "picamera2 is not installed (on Raspberry Pi OS: sudo apt install python3-picamera2, "
            "and create the venv with --system-site-packages)"
        ) from None
    try:
        cam = Picamera2(camera_num)
    except Exception as exc:  # IndexError when there is no such camera, RuntimeError if busy
        raise CameraError(f"cannot open Pi camera {camera_num}: {exc}") from exc
    try:
        config = cam.create_video_configuration(
            main={"size": main, "format": "RGB888"},
            lores={"size": lores, "format": "YUV420"},
            controls={"FrameRate": float(fps)},
            buffer_count=4,
        )
        cam.configure(config)
        cam.start()
    except Exception as exc:
        cam.close()
        raise CameraError(f"cannot start Pi camera {camera_num}: {exc}") from exc
    logger.info("Pi camera %d started: main %dx%d, lores %dx%d", camera_num, *main, *lores)
    return cam
