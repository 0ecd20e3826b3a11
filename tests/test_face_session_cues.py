"""Session cues on synthetic frames: a flat plane's flow fits a homography, a bumpy surface's
does not; drifting flicker bands and a fine periodic grid are measured."""

from __future__ import annotations

import math

import numpy as np

from vision.face.session_cues import (
    SessionCues,
    contrast_normalised,
    flow_pair,
    native_moire,
    session_cue_checks,
)
from vision.face.types import Box, FaceMeasures, FaceObservation, HeadPose, Point

W, H = 640, 480
LIMITS = {"flat_min_bend": 0.01, "flat_max_ratio": 0.45, "max_banding": 2.0,
          "max_moire": 1.6}


def _texture(seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((H, W), 120, np.uint8)
    for _ in range(400):
        x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
        cv2.circle(img, (x, y), int(rng.integers(2, 9)), int(rng.integers(0, 255)), -1)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def _observation(points: np.ndarray, t: float) -> FaceObservation:
    """A face whose landmarks are ``points`` (N, 2); its box is their bounds."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return FaceObservation(
        timestamp=t, box=Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
        landmarks=points.astype(np.float32),
        keypoints={"right_eye": Point(cx - 30, cy), "left_eye": Point(cx + 30, cy)},
        pose=HeadPose(0.0, 0.0, 0.0), measures=FaceMeasures(0.3, 0.3, 0.3, 1.5, 0.0),
        face_count=1, image_width=W, image_height=H)


def _grid() -> np.ndarray:
    xs, ys = np.meshgrid(np.linspace(220, 420, 12), np.linspace(140, 340, 12))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def _tilt_homography(yaw_deg: float) -> np.ndarray:
    """The image of a flat sheet at the frame centre turned by ``yaw_deg`` about its axis."""
    import cv2

    f, z = 700.0, 700.0
    a = math.radians(yaw_deg)
    src = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
    dst = []
    for x, y in src:
        px, py = x - W / 2, y - H / 2
        cx, cz = px * math.cos(a), z + px * math.sin(a)
        dst.append([f * cx / cz + W / 2, f * py / cz + H / 2])
    return cv2.getPerspectiveTransform(src, np.float32(dst))


def _planar_frames(n: int = 12) -> list[tuple[np.ndarray, FaceObservation]]:
    import cv2

    tex, grid, out = _texture(), _grid(), []
    for i in range(n):
        h = _tilt_homography(35.0 * i / (n - 1))
        frame = cv2.warpPerspective(tex, h, (W, H))
        pts = cv2.perspectiveTransform(grid.reshape(1, -1, 2).astype(np.float32), h)[0]
        out.append((frame, _observation(pts, i / 15)))
    return out


def _bump(shift: float) -> tuple[np.ndarray, np.ndarray]:
    """A displacement field: the middle of the face moves ``shift`` px more than its rim
    (a nose and cheeks standing out of the face as it turns)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    bump = np.exp(-(((xx - 320) / 60) ** 2 + ((yy - 240) / 70) ** 2))
    return xx, bump * shift + 0.15 * shift


def _bumpy_frames(n: int = 12) -> list[tuple[np.ndarray, FaceObservation]]:
    import cv2

    tex, grid, out = _texture(), _grid(), []
    for i in range(n):
        shift = 30.0 * i / (n - 1)
        xx, dx = _bump(shift)
        yy = np.mgrid[0:H, 0:W][0].astype(np.float32)
        frame = cv2.remap(tex, xx - dx, yy, cv2.INTER_LINEAR)
        gx, gy = grid[:, 0].astype(int), grid[:, 1].astype(int)
        pts = grid + np.stack([dx[gy, gx], np.zeros(len(grid))], axis=1)
        out.append((frame, _observation(pts, i / 15)))
    return out


def _feed(frames: list[tuple[np.ndarray, FaceObservation]]) -> SessionCues:
    cues = SessionCues()
    for image, obs in frames:
        cues.add(image, obs)
    return cues


def test_a_tilted_flat_sheet_moves_as_one_plane() -> None:
    cues = _feed(_planar_frames())
    flow = cues.flow()
    assert flow.pairs >= 3
    assert flow.bend >= 0.01  # the tilt changed the sheet's shape in the image...
    assert flow.ratio < 0.3  # ...and a homography explains nearly all of it
    checks = session_cue_checks(cues, **LIMITS)
    assert not checks["flat_motion"].passed
    assert "flat plane" in checks["flat_motion"].detail


def test_a_surface_with_depth_does_not_fit_a_homography() -> None:
    cues = _feed(_bumpy_frames())
    flow = cues.flow()
    assert flow.bend >= 0.01
    assert flow.ratio > 0.6
    assert session_cue_checks(cues, **LIMITS)["flat_motion"].passed


def test_one_pair_separates_plane_from_bump() -> None:
    (a, oa), (b, ob) = _planar_frames()[0], _planar_frames()[-1]
    flat = flow_pair(a, oa, b, ob)
    (c, oc), (d, od) = _bumpy_frames()[0], _bumpy_frames()[-1]
    bumpy = flow_pair(c, oc, d, od)
    assert flat is not None and bumpy is not None
    assert flat.residual / flat.bend < 0.3 < bumpy.residual / bumpy.bend


def test_a_still_face_is_not_judged_flat() -> None:
    tex, grid = _texture(), _grid()
    cues = _feed([(tex, _observation(grid, i / 15)) for i in range(10)])
    check = session_cue_checks(cues, **LIMITS)["flat_motion"]
    assert check.passed and "too little" in check.detail


def _banded(level: float, frames: int = 8) -> SessionCues:
    tex, grid = _texture().astype(np.float32), _grid()
    rows = np.arange(H, dtype=np.float32)[:, None]
    out = []
    for i in range(frames):
        band = 1.0 - level * (0.5 + 0.5 * np.cos(2 * np.pi * (rows / 30.0 + 0.37 * i)))
        out.append((np.clip(tex * band, 0, 255).astype(np.uint8), _observation(grid, i / 15)))
    return _feed(out)


def test_drifting_flicker_bands_are_measured() -> None:
    banded, plain = _banded(0.2), _banded(0.0)
    assert banded.banding() > 3.0
    assert plain.banding() < 1.6
    assert not session_cue_checks(banded, **LIMITS)["banding"].passed
    assert session_cue_checks(plain, **LIMITS)["banding"].passed


def test_a_fine_periodic_grid_scores_higher_moire_than_texture() -> None:
    grid = _grid()
    obs = _observation(grid, 0.0)
    tex = _texture()
    xx = np.mgrid[0:H, 0:W][1]
    pattern = (tex.astype(np.float32) * (1 + 0.15 * np.cos(2 * np.pi * xx / 2.7))).clip(0, 255)
    assert native_moire(pattern.astype(np.uint8), obs) > native_moire(tex, obs) + 0.5


def test_too_few_frames_pass_and_reset_forgets() -> None:
    cues = _banded(0.2, frames=3)
    assert session_cue_checks(cues, **LIMITS)["banding"].passed  # 2 scores < min_frames
    cues.reset()
    assert cues.banding() == 0.0 and cues.flow().pairs == 0


def test_contrast_normalisation_of_a_flat_image_is_flat() -> None:
    out = contrast_normalised(np.full((H, W), 77, np.uint8))
    assert out.dtype == np.uint8 and np.ptp(out) == 0
