"""Liveness from a recorded clip: spontaneous blinks judged on steady, large-enough faces."""

from __future__ import annotations

import numpy as np

from vision.face.clip import blink_check, relative_eye_openness, smile_check, steady_frames
from vision.face.synthetic import head_cloud, observe


def test_a_blink_of_both_eyes_in_a_steady_clip_passes() -> None:
    head = head_cloud()
    obs = [observe(head, i / 30, eye_closure=0.9 if i in (5, 6) else 0.0) for i in range(12)]
    result = blink_check(obs)
    assert result.passed and result.score > 0.5


def test_one_eye_closing_is_not_a_blink() -> None:
    head = head_cloud()
    obs = [observe(head, i / 30) for i in range(12)]
    wink = observe(head, 5 / 30, eye_closure=0.9)
    # Keep the right eye open: copy its points from an open frame.
    from vision.face.geometry import RIGHT_EYE
    from vision.face.tracker import observation_from_mesh

    lm = wink.landmarks.copy()
    lm[list(RIGHT_EYE)] = obs[5].landmarks[list(RIGHT_EYE)]
    obs[5] = observation_from_mesh(lm, 5 / 30, 640, 480)
    assert not blink_check(obs).passed


def test_an_eye_dip_in_a_frame_where_the_pose_jumped_does_not_count() -> None:
    head = head_cloud()
    obs = [observe(head, i / 30) for i in range(12)]
    obs[6] = observe(head, 6 / 30, yaw=20.0, eye_closure=0.9)
    assert not steady_frames(obs)[6]
    assert not blink_check(obs).passed
    assert np.isnan(relative_eye_openness(obs)[6])


def test_open_eyes_throughout_and_too_short_clips_do_not_pass() -> None:
    head = head_cloud()
    assert not blink_check([observe(head, i / 30) for i in range(12)]).passed
    assert "at least 3" in blink_check([observe(head, 0.0)]).detail


def test_a_held_smile_passes_and_a_one_frame_twitch_does_not() -> None:
    head = head_cloud()
    held = [observe(head, i / 30, smile=0.3 if 4 <= i <= 7 else 0.0) for i in range(12)]
    twitch = [observe(head, i / 30, smile=0.3 if i == 4 else 0.0) for i in range(12)]
    assert smile_check(held).passed
    assert not smile_check(twitch).passed
    assert np.isclose(smile_check([observe(head, i / 30) for i in range(6)]).score, 1.0)


def test_relative_openness_is_what_the_blink_check_judges() -> None:
    head = head_cloud()
    obs = [observe(head, i / 30, eye_closure=0.9 if i in (5, 6) else 0.0) for i in range(12)]
    rel = relative_eye_openness(obs)
    assert rel is not None and rel.shape == (12,)
    assert np.isclose(np.median(rel), 1.0)
    assert rel[5] < 0.72 and rel[0] > 0.72
    assert np.isclose(blink_check(obs).score, 1.0 - np.nanmin(rel))
    assert relative_eye_openness([]).size == 0
