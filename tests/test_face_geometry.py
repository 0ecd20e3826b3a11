"""Landmark geometry: eye aspect ratio, smile measure and head-pose signs."""

from __future__ import annotations

import numpy as np
import pytest

from vision.face.geometry import eye_aspect_ratio, pose_from_rotation
from vision.face.synthetic import head_cloud, observe


def test_eye_aspect_ratio_of_an_open_eye_is_height_over_width() -> None:
    eye = np.array([(0, 0), (3, -2), (7, -2), (10, 0), (7, 2), (3, 2)], dtype=float)
    assert eye_aspect_ratio(eye) == pytest.approx((4 + 4) / (2 * 10))


def test_eye_aspect_ratio_of_a_degenerate_eye_is_zero_not_an_error() -> None:
    assert eye_aspect_ratio(np.zeros((6, 2))) == 0.0


def test_closing_the_eyes_lowers_eye_openness_far_below_the_open_level() -> None:
    head = head_cloud()
    open_ = observe(head, 0.0).measures.eye_openness
    closed = observe(head, 0.0, eye_closure=0.9).measures.eye_openness
    assert closed < 0.2 * open_


def test_smiling_raises_the_smile_measure() -> None:
    head = head_cloud()
    assert observe(head, 0.0, smile=0.3).measures.smile > 1.2 * observe(head, 0.0).measures.smile


@pytest.mark.parametrize("yaw", [-25.0, -10.0, 10.0, 25.0])
def test_yaw_is_recovered_with_positive_meaning_turned_to_the_image_right(yaw: float) -> None:
    # Closed-form estimate against a generic head: right sign, within ~25 % at 0.5 m.
    obs = observe(head_cloud(), 0.0, yaw=yaw)
    assert obs.pose.yaw_deg == pytest.approx(yaw, rel=0.25)
    nose_right_of_eyes = obs.keypoints["nose_tip"].x > (
        obs.keypoints["right_eye"].x + obs.keypoints["left_eye"].x) / 2
    assert nose_right_of_eyes == (yaw > 0)


def test_pitch_is_positive_when_the_chin_goes_up() -> None:
    up = observe(head_cloud(), 0.0, pitch=15.0)
    assert up.pose.pitch_deg == pytest.approx(15.0, rel=0.25)
    assert observe(head_cloud(), 0.0, pitch=-15.0).pose.pitch_deg == pytest.approx(-15.0, rel=0.25)
    # Chin up: the protruding nose tip rises towards the eyes in the image.
    frontal = observe(head_cloud(), 0.0)
    gap_up = up.keypoints["nose_tip"].y - up.keypoints["right_eye"].y
    gap_frontal = frontal.keypoints["nose_tip"].y - frontal.keypoints["right_eye"].y
    assert gap_up < gap_frontal


def test_identity_rotation_is_a_frontal_pose() -> None:
    pose = pose_from_rotation(np.eye(3))
    assert (pose.yaw_deg, pose.pitch_deg, pose.roll_deg) == pytest.approx((0.0, 0.0, 0.0))


def test_roll_is_the_angle_of_the_eye_line_and_does_not_disturb_yaw() -> None:
    from vision.face.tracker import observation_from_mesh

    obs = observe(head_cloud(), 0.0, yaw=10.0)
    lm = obs.landmarks.astype(np.float64)
    centre = lm.mean(axis=0)
    a = np.radians(20.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    turned = observation_from_mesh((lm - centre) @ rot.T + centre, 0.0, 640, 480)
    assert turned.pose.roll_deg == pytest.approx(obs.pose.roll_deg + 20.0, abs=0.5)
    assert turned.pose.yaw_deg == pytest.approx(obs.pose.yaw_deg, abs=0.5)
