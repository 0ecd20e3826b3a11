"""Synthetic faces: 3-D landmark clouds projected by a pinhole camera.

A real head is a curved cloud with the nose standing out; a photo is the same cloud squashed
flat. Observations are built with the tracker's own ``observation_from_mesh`` so pose and
expression measures come from the production code. The tests use them, and the emulator's
scripted customer acts out challenge answers with them (no image is involved).
"""

from __future__ import annotations

import numpy as np

from vision.face import geometry as g
from vision.face.tracker import observation_from_mesh
from vision.face.types import FaceObservation

WIDTH, HEIGHT = 640, 480
FOCAL = 640.0
DISTANCE_MM = 500.0


def head_cloud(seed: int = 7, flat: bool = False) -> np.ndarray:
    """478 points (mm, camera frame: x right, y down, z away) shaped like a head."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-60.0, 60.0, size=(478, 2))
    z = 35.0 * (xy**2).sum(axis=1) / (2 * 60.0**2)
    pts = np.column_stack([xy, z])
    # Generic-head places of the points the production code reads (eyes, mouth, nose, chin...).
    for idx, xyz in zip(g._POSE_INDICES, g._MODEL_POINTS, strict=True):
        pts[idx] = xyz
    eye_r = {33: (-45, -34, 27), 160: (-37, -38, 27), 158: (-27, -38, 27), 133: (-18, -34, 27),
             153: (-27, -30, 27), 144: (-37, -30, 27)}
    eye_l = {263: (45, -34, 27), 387: (37, -38, 27), 385: (27, -38, 27), 362: (18, -34, 27),
             380: (27, -30, 27), 373: (37, -30, 27)}
    others = {13: (0, 27, 22), 14: (0, 33, 22), 151: (0, -70, 30), 9: (0, -45, 22),
              50: (-40, 5, 35), 280: (40, 5, 35), 117: (-48, -12, 35), 346: (48, -12, 35),
              199: (0, 55, 20), 4: (0, -4, 2), 5: (0, -8, 4)}
    for table in (eye_r, eye_l, others):
        for idx, xyz in table.items():
            pts[idx] = xyz
    if flat:
        pts[:, 2] = 20.0
    return pts


def rotation(yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Rotation in the camera frame, in the package's signs (yaw + = nose to the image's right,
    pitch + = chin up)."""
    a, b, c = np.radians([-yaw_deg, -pitch_deg, roll_deg])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def project(points: np.ndarray, rot: np.ndarray, shift: tuple[float, float] = (0.0, 0.0),
            distance: float = DISTANCE_MM) -> np.ndarray:
    """Pixel positions (N, 2) of the points rotated about the nose tip and moved away."""
    p = (points - points[g.NOSE_TIP]) @ rot.T
    p = p + np.array([shift[0], shift[1], distance])
    return FOCAL * p[:, :2] / p[:, 2:3] + np.array([WIDTH / 2, HEIGHT / 2])


def expression(points: np.ndarray, eye_closure: float = 0.0, smile: float = 0.0) -> np.ndarray:
    """The cloud with eyes closed by ``eye_closure`` (0..1) and mouth corners widened."""
    p = points.copy()
    for upper, lower in ((160, 144), (158, 153), (387, 373), (385, 380)):
        mid = (p[upper, 1] + p[lower, 1]) / 2
        p[upper, 1] += (mid - p[upper, 1]) * eye_closure
        p[lower, 1] += (mid - p[lower, 1]) * eye_closure
    p[g.MOUTH_RIGHT, 0] -= 30 * smile
    p[g.MOUTH_LEFT, 0] += 30 * smile
    return p


def observe(points: np.ndarray, t: float, *, yaw: float = 0.0, pitch: float = 0.0,
            eye_closure: float = 0.0, smile: float = 0.0, faces: int = 1,
            noise: float = 0.0, rng: np.random.Generator | None = None) -> FaceObservation:
    """An observation of the cloud at time ``t`` in the given pose and expression."""
    pts = expression(points, eye_closure, smile)
    lm = project(pts, rotation(yaw, pitch))
    if noise:
        lm = lm + (rng or np.random.default_rng(0)).normal(0.0, noise, lm.shape)
    return observation_from_mesh(lm, t, WIDTH, HEIGHT, face_count=faces)


def photo_observe(points: np.ndarray, t: float, *, tilt_yaw: float = 0.0,
                  tilt_pitch: float = 0.0, noise: float = 0.0,
                  rng: np.random.Generator | None = None) -> FaceObservation:
    """A flat photo of the (frontal) face, the photo itself tilted by the given angles."""
    flat = points.copy()
    flat[:, 2] = 0.0
    lm = project(flat, rotation(tilt_yaw, tilt_pitch))
    if noise:
        lm = lm + (rng or np.random.default_rng(0)).normal(0.0, noise, lm.shape)
    return observation_from_mesh(lm, t, WIDTH, HEIGHT)
