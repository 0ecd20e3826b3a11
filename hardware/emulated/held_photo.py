"""A presentation attack: a still photo (print or phone screen) held up to the camera.

The photo moves as ONE rigid flat plane: every frame applies a small 3-D rotation and
translation of the plane (a smooth random walk, like a hand's tremor) and renders it through a
pinhole camera, i.e. with a single homography. Face liveness tests use it as the flat spoof
whose landmarks all move together.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Literal

import numpy as np

from hardware.cameras.base import CameraBase, Clock, as_bgr, check_size, load_image, resize_to
from hardware.emulated.held_plane import (
    camera_frame,
    first_pose,
    next_pose,
    noise_field,
    plane_homography,
    room,
    rounded_mask,
    warp,
)
from hardware.errors import CameraError

Medium = Literal["print", "screen"]

_PLANE_HEIGHT = 0.6  # height of the held plane as a fraction of the frame height
_FOCAL = 1.1  # focal length as a multiple of the frame width (about 49 degrees horizontal)
# Pose amplitudes at motion=1: yaw, pitch, roll (degrees), x, y shift (frame fractions), depth.
_AMPLITUDE = np.array([10.0, 8.0, 5.0, 0.04, 0.03, 0.06])
_SMOOTHING = 0.8  # AR(1) coefficient of the pose random walk
_SENSOR_NOISE = 2.0


class HeldPhotoCamera(CameraBase):
    """Frames of ``image`` held up as a ``medium`` ("print" or "screen") over a background.

    ``image`` and ``background`` are BGR arrays or image files; without a background a
    deterministic synthetic room is drawn. ``motion`` scales the hand movement (0 = still).
    ``limit`` ends the source after that many frames (None = never ends).

    Instruments: ``plane_image`` is the flat texture that is moved (photo plus paper border or
    phone bezel) and ``last_homography`` maps its pixel coordinates to the last frame's.
    """

    def __init__(
        self,
        image: np.ndarray | str | Path,
        *,
        background: np.ndarray | str | Path | None = None,
        medium: Medium = "print",
        clock: Clock = time.monotonic,
        seed: int = 0,
        size: tuple[int, int] = (640, 480),
        motion: float = 1.0,
        limit: int | None = None,
    ) -> None:
        checked = check_size(size)
        assert checked is not None
        if medium not in ("print", "screen"):
            raise CameraError(f"medium must be 'print' or 'screen', got {medium!r}")
        if not (math.isfinite(motion) and motion >= 0):
            raise CameraError(f"motion must be a finite number >= 0, got {motion!r}")
        if limit is not None and limit < 0:
            raise CameraError(f"limit must be >= 0, got {limit}")
        super().__init__(checked, clock=clock)
        self._rng = np.random.default_rng(seed)
        self._medium: Medium = medium
        self._limit = limit
        self._amplitude = _AMPLITUDE * float(motion)
        photo = _as_image(image, "image")
        width, height = checked
        self._background = (
            room(self._rng, width, height)
            if background is None
            else resize_to(_as_image(background, "background"), checked).astype(np.float32)
        )
        self._noise = noise_field(self._rng, width, height, _SENSOR_NOISE)
        plane_h = round(_PLANE_HEIGHT * height * 1.25)  # slightly supersampled texture
        self._plane, self._alpha = _plane_texture(photo, plane_h, medium, self._rng)
        self._pose = first_pose(self._rng, self._amplitude)
        self.last_homography: np.ndarray | None = None

    @property
    def medium(self) -> Medium:
        """"print" or "screen"."""
        return self._medium

    @property
    def plane_image(self) -> np.ndarray:
        """The flat texture moved in front of the camera (BGR uint8)."""
        return self._plane

    @property
    def plane_mask(self) -> np.ndarray:
        """Coverage 0..1 (float32, HxW) of ``plane_image`` (rounded phone corners are 0)."""
        return self._alpha

    def _grab(self) -> np.ndarray | None:
        if self._limit is not None and self.frames_read >= self._limit:
            return None
        if self.frames_read > 0:
            self._pose = next_pose(self._rng, self._pose, self._amplitude, _SMOOTHING)
        homography = self._homography(self._pose)
        warped = warp(self._plane, homography, self.size)
        alpha = warp(self._alpha, homography, self.size)[..., None]
        gain = 1.0 + float(np.clip(self._rng.normal(0.0, 0.02), -0.05, 0.05))
        self.last_homography = homography
        return camera_frame(self._background, warped.astype(np.float32), alpha, self._noise,
                            self._rng, gain=gain)

    def _homography(self, pose: np.ndarray) -> np.ndarray:
        yaw, pitch, roll, tx, ty, dz = (float(v) for v in pose)
        width, height = self.size
        th, tw = self._plane.shape[:2]
        focal = _FOCAL * width
        # World units: frame pixels at depth = focal.
        return plane_homography((tw, th), th / (_PLANE_HEIGHT * height), (yaw, pitch, roll),
                                np.array([tx * width, ty * height, focal * (1.0 + dz)]), focal,
                                (width, height))


def _as_image(image: np.ndarray | str | Path, what: str) -> np.ndarray:
    if isinstance(image, str | Path):
        if not Path(image).is_file():
            raise CameraError(f"{what} file not found: {image}")
        loaded = load_image(image)
        if loaded is None:
            raise CameraError(f"cannot decode {what} file {image}")
        return loaded
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise CameraError(f"{what} must be an image array or file, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] not in (3, 4):
        raise CameraError(f"{what} must have 1, 3 or 4 channels, got shape {image.shape}")
    return as_bgr(image)


def _plane_texture(
    photo: np.ndarray, plane_h: int, medium: Medium, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The held object (photo plus border) at ``plane_h`` pixels high, and its coverage mask."""
    import cv2

    border = max(2, round(plane_h * (0.05 if medium == "print" else 0.08)))
    inner_h = plane_h - 2 * border
    inner_w = max(8, round(photo.shape[1] * inner_h / photo.shape[0]))
    content = cv2.resize(photo, (inner_w, inner_h), interpolation=cv2.INTER_AREA)
    content = content.astype(np.float32)
    h, w = plane_h, inner_w + 2 * border
    alpha = np.ones((h, w), np.float32)
    if medium == "print":
        plane = np.empty((h, w, 3), np.float32)
        plane[:] = (236.0, 240.0, 242.0)  # paper
        plane[border:border + inner_h, border:border + inner_w] = content * 0.92 + 8.0
        # Uneven room light across the sheet.
        ramp = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
        plane *= 0.9 + 0.12 * ramp
    else:
        plane = np.empty((h, w, 3), np.float32)
        plane[:] = (20.0, 18.0, 18.0)  # bezel
        screen = content * 0.85 + 30.0  # emissive, lower contrast
        screen[..., 0] *= 1.06  # cool white point
        yy, xx = np.mgrid[0:inner_h, 0:inner_w].astype(np.float32)
        angle = rng.uniform(0, math.pi)
        phase = xx * math.cos(angle) + yy * math.sin(angle)
        screen += (5.0 * np.sin(phase * 1.9))[..., None]  # faint moiré
        glare = np.exp(-(((xx - yy * 0.7) - inner_w * 0.6) / (inner_w * 0.12)) ** 2)
        screen += (45.0 * glare)[..., None]
        plane[border:border + inner_h, border:border + inner_w] = screen
        alpha = rounded_mask(w, h, border * 2).astype(np.float32) / 255.0
    return np.clip(plane, 0, 255).astype(np.uint8), alpha

