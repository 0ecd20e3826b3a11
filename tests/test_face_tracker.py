"""The face tracker: bad frames give clear errors, empty frames give None, real faces are seen."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.face_shared import FACES, needs_faces
from vision.face.tracker import FaceTracker, TrackerError


@pytest.fixture(scope="module")
def tracker():
    with FaceTracker(mode="image") as t:
        yield t


@pytest.mark.parametrize("frame", [
    np.zeros((480, 640, 3), np.float32),
    np.zeros((480, 640, 5), np.uint8),
    np.zeros((8, 8, 3), np.uint8),
    "not an image",
])
def test_unusable_frames_raise_a_tracker_error(tracker: FaceTracker, frame: object) -> None:
    with pytest.raises(TrackerError):
        tracker.process(frame, 0.0)  # type: ignore[arg-type]


def test_a_frame_without_a_face_gives_none(tracker: FaceTracker) -> None:
    assert tracker.process(np.full((480, 640, 3), 90, np.uint8), 0.0) is None
    assert tracker.process(np.full((480, 640), 90, np.uint8), 0.0) is None


def test_close_is_idempotent_and_a_closed_tracker_refuses_frames() -> None:
    t = FaceTracker(mode="image", clock=lambda: 5.0)
    t.close()
    t.close()
    with pytest.raises(TrackerError, match="closed"):
        t.process(np.zeros((480, 640, 3), np.uint8))


def test_unknown_backends_are_refused() -> None:
    with pytest.raises(TrackerError, match="unknown face tracker backend"):
        FaceTracker("nonsense")


@needs_faces
def test_a_real_face_gives_an_observation_with_open_eyes_and_its_turn_measured() -> None:
    image = cv2.imread(str(FACES / "lfw" / "Amber_Tamblyn" / "Amber_Tamblyn_0001.jpg"))
    with FaceTracker(mode="image", clock=lambda: 7.0) as t:
        obs = t.process(image)
    assert obs is not None
    assert obs.timestamp == 7.0
    assert obs.face_count == 1
    assert obs.landmarks.shape[0] >= 468
    assert 0.15 < obs.measures.eye_openness < 0.45
    # She faces the image's left (nose left of the eye midpoint): a clearly negative yaw.
    assert -60 < obs.pose.yaw_deg < -15 and abs(obs.pose.roll_deg) < 20
    assert 30 < obs.interocular < 120
    assert obs.box.left < obs.keypoints["nose_tip"].x < obs.box.right
