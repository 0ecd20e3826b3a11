"""Passive liveness: the planar-motion check and the screen/print image cues."""

from __future__ import annotations

import numpy as np
import pytest

from vision.face.geometry import parallax_tracks
from vision.face.passive import (
    homography_residual,
    planar_motion,
    planar_motion_check,
    screen_print_cues,
)
from vision.face.synthetic import head_cloud, observe, photo_observe


def _tracks(observations: list) -> tuple[np.ndarray, np.ndarray]:
    return parallax_tracks([o.landmarks for o in observations])


def test_a_homography_explains_points_on_a_plane_exactly() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (12, 2))
    h = np.array([[1.1, 0.05, 3.0], [-0.02, 0.95, -4.0], [1e-4, -2e-4, 1.0]])
    dst_h = np.column_stack([src, np.ones(12)]) @ h.T
    dst = dst_h[:, :2] / dst_h[:, 2:]
    assert homography_residual(src, dst) < 1e-4


def test_a_turning_real_head_shows_parallax() -> None:
    head = head_cloud()
    obs = [observe(head, i / 15, yaw=y) for i, y in enumerate(np.linspace(0, 20, 12))]
    result = planar_motion_check(*_tracks(obs))
    assert result.passed, result
    assert result.score > 0.06


@pytest.mark.parametrize(("tilt_yaw", "tilt_pitch"), [(25.0, 0.0), (0.0, 25.0), (18.0, -15.0)])
def test_a_tilted_photo_moves_as_one_plane_and_fails(tilt_yaw: float, tilt_pitch: float) -> None:
    head = head_cloud()
    rng = np.random.default_rng(3)
    obs = [photo_observe(head, i / 15, tilt_yaw=tilt_yaw * k, tilt_pitch=tilt_pitch * k,
                         noise=0.3, rng=rng)
           for i, k in enumerate(np.linspace(0, 1, 12))]
    result = planar_motion_check(*_tracks(obs))
    assert not result.passed
    assert result.score < 0.03
    assert "flat plane" in result.detail


def test_a_still_face_is_not_judged_either_way() -> None:
    head = head_cloud()
    obs = [observe(head, i / 15) for i in range(10)]
    result = planar_motion_check(*_tracks(obs))
    assert not result.passed
    assert "too little" in result.detail
    assert planar_motion(*_tracks(obs)).verdict() == "still"


def test_too_few_frames_or_points_fail_with_a_reason_not_an_error() -> None:
    head = head_cloud()
    few = _tracks([observe(head, 0.0), observe(head, 0.1, yaw=20)])
    assert "frames" in planar_motion_check(*few).detail
    assert "points" in planar_motion_check(np.zeros((8, 3, 2)), np.zeros((8, 1, 2))).detail


def _face_image(texture: np.ndarray) -> tuple[np.ndarray, object]:
    image = np.full((480, 640, 3), 120, np.uint8)
    obs = observe(head_cloud(), 0.0)
    rows, cols = obs.box.slices(640, 480)
    h, w = rows.stop - rows.start, cols.stop - cols.start
    image[rows, cols] = texture[:h, :w]
    return image, obs


def test_a_fine_periodic_pattern_scores_higher_moire_than_smooth_skin() -> None:
    yy, xx = np.mgrid[:400, :400]
    stripes = (128 + 100 * np.sin(xx * 2.2)).astype(np.uint8)
    smooth = (100 + 0.2 * yy + 0.1 * xx).astype(np.uint8)
    moire_img, obs = _face_image(np.dstack([stripes] * 3))
    smooth_img, _ = _face_image(np.dstack([smooth, smooth + 20, smooth + 40]))
    assert (screen_print_cues(moire_img, obs)["moire"].score
            > screen_print_cues(smooth_img, obs)["moire"].score + 1.0)


def test_glare_and_washed_out_colour_are_measured() -> None:
    white = np.full((400, 400, 3), 255, np.uint8)
    glare_img, obs = _face_image(white)
    cues = screen_print_cues(glare_img, obs)
    assert cues["specular"].score > 0.9 and not cues["specular"].passed
    assert cues["gamut"].score < 1.0 and not cues["gamut"].passed


def test_cues_of_a_face_box_outside_the_image_do_not_raise() -> None:
    obs = observe(head_cloud(), 0.0)
    tiny = np.zeros((20, 20, 3), np.uint8)
    cues = screen_print_cues(tiny, obs)
    assert set(cues) == {"moire", "specular", "gamut"}
