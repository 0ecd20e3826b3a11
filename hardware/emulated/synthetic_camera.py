"""A camera that films a phone screen or sticker showing a QR payload (or nothing)."""

from __future__ import annotations

import threading
import time

import numpy as np

from hardware.cameras.base import CameraBase, Clock, check_size
from hardware.cameras.pacing import FramePacer, Wait
from hardware.emulated.scene import SceneConditions, render_qr_scene
from hardware.errors import CameraError

# Per-frame jitter: hand tremor of up to this many pixels and this much sensor noise (0..255).
_JITTER_SHIFT_PX = 1.5
_JITTER_NOISE_SIGMA = 1.5
_NOISE_MARGIN = 32


class SyntheticCamera(CameraBase):
    """Renders ``payload`` as a QR code in a scene each frame; never ends.

    The scene (from ``hardware.emulated.scene.render_qr_scene``) is rendered once per
    ``show()`` and reused; with ``jitter`` each frame adds a sub-pixel shift and fresh sensor
    noise so successive frames differ as they do on a real camera. A test drives it with
    ``show(payload)`` / ``show(None)`` while the terminal reads frames.

    ``max_fps`` paces reading like a real camera (frames at least ``1 / max_fps`` apart on
    ``clock``, waited for with ``wait(seconds)``); without it frames come as fast as read.
    """

    def __init__(
        self,
        payload: bytes | str | None = None,
        *,
        conditions: SceneConditions | None = None,
        size: tuple[int, int] = (640, 480),
        clock: Clock = time.monotonic,
        seed: int = 0,
        jitter: bool = True,
        max_fps: float | None = None,
        wait: Wait | None = None,
    ) -> None:
        checked = check_size(size)
        assert checked is not None
        super().__init__(checked, clock=clock)
        self._pacer = None if max_fps is None else FramePacer(max_fps, clock=clock, wait=wait)
        self._seed = int(seed)
        self._lock = threading.Lock()
        self._payload: bytes | str | None = None
        self._conditions: SceneConditions | None = None
        self._scene: np.ndarray | None = None
        self._noise = _noise_field(np.random.default_rng(self._seed), checked) if jitter else None
        self.show(payload, conditions)

    @property
    def payload(self) -> bytes | str | None:
        """What the scene currently shows (None = no code)."""
        return self._payload

    @property
    def conditions(self) -> SceneConditions | None:
        """The current scene conditions (None = the renderer's clean defaults)."""
        return self._conditions

    def show(
        self, payload: bytes | str | None, conditions: SceneConditions | None = None
    ) -> None:
        """Show ``payload`` from the next frame on; ``conditions`` None keeps the current ones."""
        if payload is not None and not isinstance(payload, bytes | str):
            raise CameraError(f"payload must be bytes, str or None, got {type(payload).__name__}")
        from qrcode.exceptions import DataOverflowError

        new_conditions = self._conditions if conditions is None else conditions
        try:
            scene = render_qr_scene(payload, new_conditions, size=self.size, seed=self._seed)
        except (ValueError, DataOverflowError) as exc:  # e.g. too long for any QR version
            raise CameraError(f"cannot render the scene: {exc}") from exc
        with self._lock:
            self._payload, self._conditions, self._scene = payload, new_conditions, scene

    def _grab(self) -> np.ndarray | None:
        if self._pacer is not None:
            self._pacer.pace()
        with self._lock:
            scene = self._scene
        assert scene is not None
        if self._noise is None:
            return scene.copy()
        rng = np.random.default_rng((self._seed, self.frames_read))
        return _jittered(scene, self._noise, rng)


    def _release(self) -> None:
        if self._pacer is not None:
            self._pacer.interrupt()


def _noise_field(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Sensor noise larger than a frame; each frame adds a window at a random offset."""
    width, height = size
    shape = (height + _NOISE_MARGIN, width + _NOISE_MARGIN, 3)
    return np.rint(rng.standard_normal(shape, dtype=np.float32) * _JITTER_NOISE_SIGMA).astype(
        np.int16
    )


def _jittered(scene: np.ndarray, noise: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    dx, dy = rng.uniform(-_JITTER_SHIFT_PX, _JITTER_SHIFT_PX, 2)
    shift = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], dtype=np.float32)
    moved = cv2.warpAffine(scene, shift, (scene.shape[1], scene.shape[0]),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    oy, ox = (int(v) for v in rng.integers(0, _NOISE_MARGIN, 2))
    window = noise[oy:oy + scene.shape[0], ox:ox + scene.shape[1]]
    return np.clip(moved.astype(np.int16) + window, 0, 255).astype(np.uint8)
