"""Wait for a payment code on a camera: the bridge from frames to a flow's input."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hardware.ports import Camera
from vision.qr.cascade import QrDecoder


@dataclass(frozen=True)
class SeenCode:
    """A code read from the camera, with how it was read."""

    payload: bytes
    text: str | None
    engine: str
    ms: float  # decode time of the frame that confirmed it
    frame_index: int
    frames: int  # frames read while waiting


class CodeScanner:
    """Reads frames until one code is seen on ``confirm_frames`` frames in a row."""

    def __init__(self, *, budget_ms: float = 30.0, confirm_frames: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if confirm_frames < 1:
            raise ValueError("confirm_frames must be >= 1")
        self._decoder = QrDecoder(budget_ms=budget_ms)
        self._confirm = confirm_frames
        self._clock = clock

    def wait_for_code(self, camera: Camera, *, timeout_s: float) -> SeenCode | None:
        """The first confirmed code, or None at the time-out or when the camera ends."""
        deadline = self._clock() + timeout_s
        streak_payload: bytes | None = None
        streak = 0
        frames = 0
        while self._clock() < deadline:
            frame = camera.read()
            if frame is None:
                return None
            frames += 1
            result = self._decoder.decode(frame.image)
            if not result.codes:
                streak_payload, streak = None, 0
                continue
            code = result.codes[0]
            streak = streak + 1 if code.payload == streak_payload else 1
            streak_payload = code.payload
            if streak >= self._confirm:
                return SeenCode(code.payload, code.text, code.engine, result.elapsed_ms,
                                frame.index, frames)
        return None

    def close(self) -> None:
        """Release the decoder; safe to call twice."""
        self._decoder.close()
