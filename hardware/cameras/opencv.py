"""A USB / V4L2 camera (or a stream URL) read through OpenCV's VideoCapture."""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path

import numpy as np

from hardware.cameras.base import CameraBase, Clock, as_bgr, check_size, resize_to
from hardware.errors import CameraError

logger = logging.getLogger(__name__)

# Consecutive failed reads after which a live camera is reported as lost.
_MAX_FAILED_READS = 5


class OpenCvCamera(CameraBase):
    """``device`` is a camera index (``/dev/videoN``) or a device path / stream URL.

    Asks the driver for ``size`` and ``fps`` and rescales frames to ``size`` if the driver
    chose another mode. A live camera never ends: lost frames raise CameraError.
    """

    def __init__(
        self,
        device: int | str = 0,
        size: tuple[int, int] = (640, 480),
        fps: float = 15,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        checked = check_size(size)
        assert checked is not None
        if not (math.isfinite(fps) and 0 < fps <= 240):
            raise CameraError(f"fps must be in (0, 240], got {fps}")
        super().__init__(checked, clock=clock)
        self._device = device
        self._cap = _open_capture(device, checked, fps)

    @property
    def device(self) -> int | str:
        """The device index or path this camera reads."""
        return self._device

    def _grab(self) -> np.ndarray | None:
        for _ in range(_MAX_FAILED_READS):
            ok, image = self._cap.read()
            if ok and image is not None:
                return resize_to(as_bgr(image), self.size)
        raise CameraError(
            f"camera {self._device!r} stopped delivering frames "
            f"({_MAX_FAILED_READS} failed reads in a row)"
        )

    def _release(self) -> None:
        self._cap.release()


def _open_capture(device: int | str, size: tuple[int, int], fps: float) -> object:
    if isinstance(device, bool) or not isinstance(device, int | str):
        raise CameraError(f"camera device must be an index or a path, got {device!r}")
    if isinstance(device, int):
        if device < 0:
            raise CameraError(f"camera index must be >= 0, got {device}")
        node = Path(f"/dev/video{device}")
        if sys.platform.startswith("linux") and not node.exists():
            raise CameraError(f"no camera at index {device}: {node} does not exist")
    elif "://" not in device and not Path(device).exists():
        raise CameraError(f"no camera at {device}: the device does not exist")
    import cv2

    cap = cv2.VideoCapture(device)
    if not cap.isOpened():
        cap.release()
        raise CameraError(
            f"cannot open camera {device!r} (busy, no permission, or not a video device)"
        )
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
    cap.set(cv2.CAP_PROP_FPS, fps)
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep latency low: we want the newest frame
    actual = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    if actual != size:
        logger.info("camera %r delivers %dx%d; rescaling to %dx%d", device, *actual, *size)
    return cap
