"""A flat plane held up to a pinhole camera: the steps every held-up attack renderer shares.

Used by :mod:`hardware.emulated.held_photo` (a photo held up) and the emulator's replayed-video
screen: the hand's tremor as a smooth random walk of the plane's pose, the plane's homography
from its pose, warping a texture with it, rounded corners, a synthetic room behind the plane,
compositing over it and the sensor's noise. Everything is deterministic by the caller's
random generator (each step draws from it in a fixed order).
"""

from __future__ import annotations

import math

import numpy as np

# The noise field is this much larger than a frame; each frame uses a random window of it.
NOISE_MARGIN = 32


def rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """The 3x3 rotation of a plane turned by yaw (about y), pitch (x) and roll (z), degrees."""
    y, p, r = (math.radians(v) for v in (yaw_deg, pitch_deg, roll_deg))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def first_pose(rng: np.random.Generator, amplitude: np.ndarray) -> np.ndarray:
    """A starting pose (yaw, pitch, roll, x, y, depth) within +-``amplitude``."""
    return np.clip(rng.normal(0.0, 0.5, 6) * amplitude, -amplitude, amplitude)


def next_pose(rng: np.random.Generator, pose: np.ndarray, amplitude: np.ndarray,
              smoothing: float) -> np.ndarray:
    """One step of the hand's tremor: an AR(1) random walk (coefficient ``smoothing``) of
    ``pose``, kept within +-``amplitude``."""
    step = rng.normal(0.0, 0.5, 6) * amplitude
    pose = smoothing * pose + math.sqrt(1 - smoothing**2) * step
    return np.clip(pose, -amplitude, amplitude)


def plane_homography(texture_size: tuple[int, int], texels_per_unit: float,
                     angles_deg: tuple[float, float, float], offset: np.ndarray, focal: float,
                     frame_size: tuple[int, int]) -> np.ndarray:
    """The homography from a plane texture's pixels to the camera frame's.

    The texture (``texture_size`` = width, height) is ``texels_per_unit`` texels per world unit,
    centred on the origin, turned by ``angles_deg`` (yaw, pitch, roll) and moved by ``offset``
    (x, y, depth in world units), then projected by a pinhole of focal length ``focal`` (world
    units per frame pixel at depth ``focal``) onto the middle of a ``frame_size`` frame."""
    import cv2

    tw, th = texture_size
    width, height = frame_size
    corners = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], dtype=np.float64)
    plane = np.column_stack([(corners[:, 0] - tw / 2) / texels_per_unit,
                             (corners[:, 1] - th / 2) / texels_per_unit, np.zeros(4)])
    cam = plane @ rotation(*angles_deg).T
    cam += offset
    projected = focal * cam[:, :2] / cam[:, 2:3] + np.array([width / 2, height / 2])
    return cv2.getPerspectiveTransform(corners.astype(np.float32), projected.astype(np.float32))


def warp(texture: np.ndarray, homography: np.ndarray, frame_size: tuple[int, int]
         ) -> np.ndarray:
    """``texture`` (an image or a mask) seen through ``homography`` in a ``frame_size`` frame
    (bilinear, zero outside the plane)."""
    import cv2

    return cv2.warpPerspective(texture, homography, frame_size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)


def rounded_mask(width: int, height: int, radius: int) -> np.ndarray:
    """A ``width`` x ``height`` uint8 mask (255 inside) of a rectangle with rounded corners."""
    import cv2

    w, h = width, height
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (radius, 0), (w - 1 - radius, h - 1), 255, -1)
    cv2.rectangle(mask, (0, radius), (w - 1, h - 1 - radius), 255, -1)
    for cx, cy in ((radius, radius), (w - 1 - radius, radius), (radius, h - 1 - radius),
                   (w - 1 - radius, h - 1 - radius)):
        cv2.circle(mask, (cx, cy), radius, 255, -1, lineType=cv2.LINE_AA)
    return mask


def room(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A plain, slightly cluttered room behind the plane (float32 BGR), fixed by ``rng``."""
    import cv2

    base = rng.uniform(70, 180, 3)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.empty((height, width, 3), np.float32)
    img[:] = base + ramp * rng.uniform(-40, 40, 3)
    canvas = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(10):
        colour = tuple(int(c) for c in rng.integers(30, 230, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = (int(v) for v in rng.integers(width // 16, width // 3, 2))
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, -1)
    return cv2.GaussianBlur(canvas, (0, 0), 3.0).astype(np.float32)


def noise_field(rng: np.random.Generator, width: int, height: int, sigma: float) -> np.ndarray:
    """Gaussian sensor noise (float32, ``sigma`` levels) :data:`NOISE_MARGIN` larger than a
    frame each way, for :func:`camera_frame`."""
    shape = (height + NOISE_MARGIN, width + NOISE_MARGIN, 3)
    return rng.standard_normal(shape, dtype=np.float32) * sigma


def camera_frame(background: np.ndarray, layer: np.ndarray, alpha: np.ndarray,
                 noise: np.ndarray, rng: np.random.Generator, *, gain: float = 1.0
                 ) -> np.ndarray:
    """The uint8 frame: ``layer`` (times ``gain``) over ``background`` by coverage ``alpha``
    (HxWx1), plus a random window of the ``noise`` field."""
    height, width = background.shape[:2]
    frame = background * (1.0 - alpha)
    frame += layer * (alpha * np.float32(gain))
    oy, ox = (int(v) for v in rng.integers(0, NOISE_MARGIN, 2))
    frame += noise[oy:oy + height, ox:ox + width]
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)
