"""Landmark geometry: named MediaPipe mesh indices, eye/mouth measures and head pose."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vision.face.types import FaceMeasures, HeadPose, Point

# MediaPipe face-mesh indices (468-point topology). "right"/"left" are the person's own sides.
RIGHT_EYE = (33, 160, 158, 133, 153, 144)  # outer, upper-outer, upper-inner, inner, low-in, low-out
LEFT_EYE = (263, 387, 385, 362, 380, 373)
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
NOSE_TIP, CHIN = 1, 152
# Parallax points. BASE: skull-fixed points spread over the face's back surface (eye corners
# first, then forehead, cheeks, chin); PROBE: the nose tip, which stands ~0.4 eye-spans in front.
PLANE_BASE_POINTS = (33, 133, 362, 263, 151, 9, 50, 280, 117, 346, 199)
PLANE_PROBE_POINTS = (1, 4, 5)

# A generic head in millimetres, camera frame (x right, y down, z away from the camera),
# for the points (nose tip, chin, right-eye outer, left-eye outer, mouth right, mouth left).
_MODEL_POINTS = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.0, 66.0, 13.0),
        (-45.0, -34.0, 27.0),
        (45.0, -34.0, 27.0),
        (-30.0, 30.0, 25.0),
        (30.0, 30.0, 25.0),
    ],
    dtype=np.float64,
)
_POSE_INDICES = (NOSE_TIP, CHIN, RIGHT_EYE[0], LEFT_EYE[0], MOUTH_RIGHT, MOUTH_LEFT)


def eye_aspect_ratio(points: np.ndarray) -> float:
    """The eye aspect ratio of six eye points (outer, two upper, inner, two lower).

    EAR = (|p1-p5| + |p2-p4|) / (2 |p0-p3|) in Soukupová & Čech's numbering; ~0.3 open, ~0.05
    closed, independent of the face's size in the image.
    """
    p = np.asarray(points, dtype=np.float64)
    vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    horizontal = 2.0 * np.linalg.norm(p[0] - p[3])
    return float(vertical / horizontal) if horizontal > 0 else 0.0


def mesh_measures(lm: np.ndarray) -> FaceMeasures:
    """Eye openness, smile and mouth opening from 468 mesh landmarks (pixels)."""
    right = eye_aspect_ratio(lm[list(RIGHT_EYE)])
    left = eye_aspect_ratio(lm[list(LEFT_EYE)])
    eye_span = float(np.linalg.norm(lm[RIGHT_EYE[0]] - lm[LEFT_EYE[0]])) or 1.0
    mouth_width = float(np.linalg.norm(lm[MOUTH_RIGHT] - lm[MOUTH_LEFT]))
    gap = float(np.linalg.norm(lm[LIP_UPPER_INNER] - lm[LIP_LOWER_INNER]))
    return FaceMeasures(
        eye_openness=(left + right) / 2.0,
        left_eye_openness=left,
        right_eye_openness=right,
        smile=mouth_width / eye_span,
        mouth_open=gap / mouth_width if mouth_width > 0 else 0.0,
    )


def mesh_keypoints(lm: np.ndarray) -> dict[str, Point]:
    """Named key points from 468 mesh landmarks."""

    def pt(i: int) -> Point:
        return Point(float(lm[i, 0]), float(lm[i, 1]))

    def mid(indices: tuple[int, ...]) -> Point:
        c = lm[list(indices)].mean(axis=0)
        return Point(float(c[0]), float(c[1]))

    return {
        "right_eye": mid((RIGHT_EYE[0], RIGHT_EYE[3])),
        "left_eye": mid((LEFT_EYE[0], LEFT_EYE[3])),
        "nose_tip": pt(NOSE_TIP),
        "mouth_right": pt(MOUTH_RIGHT),
        "mouth_left": pt(MOUTH_LEFT),
        "right_eye_outer": pt(RIGHT_EYE[0]),
        "right_eye_inner": pt(RIGHT_EYE[3]),
        "left_eye_outer": pt(LEFT_EYE[0]),
        "left_eye_inner": pt(LEFT_EYE[3]),
        "chin": pt(CHIN),
    }


# Depths of the generic head (eye spans): the nose tip stands NOSE_DEPTH in front of the outer
# eye corners; eye line -> nose -> mouth vertical layout for pitch.
NOSE_DEPTH = 0.3
_EYE_Y, _EYE_Z, _MOUTH_Y, _MOUTH_Z = -34.0, 27.0, 30.0, 25.0


def head_pose(lm: np.ndarray, image_width: int, image_height: int) -> HeadPose:
    """Yaw, pitch and roll in degrees from where the nose tip sits between eyes and mouth.

    Roll is the angle of the outer-eye-corner line; after undoing it, yaw follows from the nose
    tip's sideways offset from the eye midpoint (``offset / eye span = NOSE_DEPTH * tan(yaw)``)
    and pitch from its height between the eye line and the mouth, against a generic head. This
    closed form is stable frame to frame, unlike a 6-point PnP solve, which flips between two
    mirror poses on near-frontal faces. ``image_width``/``image_height`` are accepted for
    backends that need the camera geometry.
    """
    del image_width, image_height
    pts = np.asarray(lm, dtype=np.float64)
    right, left = pts[RIGHT_EYE[0]], pts[LEFT_EYE[0]]
    dx, dy = left - right
    roll = float(np.degrees(np.arctan2(dy, dx)))
    c, s_ = np.cos(np.radians(-roll)), np.sin(np.radians(-roll))
    rot = np.array([[c, -s_], [s_, c]])
    mid = (right + left) / 2.0

    def upright(p: np.ndarray) -> np.ndarray:
        return rot @ (p - mid)

    span = float(np.hypot(dx, dy))
    if span <= 0:
        return HeadPose(0.0, 0.0, roll)
    nose = upright(pts[NOSE_TIP])
    mouth = upright((pts[MOUTH_RIGHT] + pts[MOUTH_LEFT]) / 2.0)
    yaw = float(np.degrees(np.arctan2(nose[0] / span, NOSE_DEPTH)))
    pitch = 0.0
    if mouth[1] > 0:
        r = nose[1] / mouth[1]  # 0 at the eye line, 1 at the mouth
        num = r * (_MOUTH_Y - _EYE_Y) + _EYE_Y
        den = _EYE_Z - r * (_EYE_Z - _MOUTH_Z)
        pitch = -float(np.degrees(np.arctan2(num, den)))
    return HeadPose(yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll)


def pose_from_rotation(rmat: np.ndarray) -> HeadPose:
    """Yaw/pitch/roll (degrees, this package's signs) of a head rotation in the camera frame."""
    # R = Ry(yaw) @ Rx(pitch) @ Rz(roll) decomposition (y down, z away from the camera).
    r = np.asarray(rmat, dtype=np.float64)
    pitch = np.degrees(np.arcsin(np.clip(-r[1, 2], -1.0, 1.0)))
    yaw = np.degrees(np.arctan2(r[0, 2], r[2, 2]))
    roll = np.degrees(np.arctan2(r[1, 0], r[1, 1]))
    return HeadPose(yaw_deg=float(-yaw), pitch_deg=float(-pitch), roll_deg=float(roll))


def parallax_tracks(landmarks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(base, probe) point tracks, each (frames, points, 2), from per-frame mesh landmarks."""
    stack = np.asarray(list(landmarks), dtype=np.float64)
    if stack.ndim != 3 or stack.shape[0] == 0:
        empty = np.zeros((0, 0, 2))
        return empty, empty
    return stack[:, list(PLANE_BASE_POINTS)], stack[:, list(PLANE_PROBE_POINTS)]
