"""What the clip checks report besides pass/fail: blink count and depth, head-turn yaw."""

from __future__ import annotations

import numpy as np
import pytest

from terminal.cli.face import clip_limits
from terminal.config.schema import FaceSection
from vision.face.clip import blink_check, count_blinks, turn_check
from vision.face.synthetic import head_cloud, observe


def test_two_separate_blinks_are_counted_with_their_depth() -> None:
    head = head_cloud()
    closed = {5, 6, 20, 21}
    obs = [observe(head, i / 30, eye_closure=0.9 if i in closed else 0.0) for i in range(30)]
    result = blink_check(obs)
    assert result.passed
    seen = result.as_dict()["observed"]
    assert seen["count"] == 2
    assert seen["depth"] == pytest.approx(result.score, abs=1e-4)
    assert 0 < seen["lowest_openness"] < 0.5 and seen["open_ear_left"] > 0.1


def test_open_eyes_show_no_blink_and_a_count_of_zero() -> None:
    head = head_cloud()
    result = blink_check([observe(head, i / 30) for i in range(20)])
    assert not result.passed and result.observed["count"] == 0


def test_a_dip_counts_once_until_the_eyes_reopen_half_way() -> None:
    series = np.array([1.0, 0.8, 0.9, 0.84, 0.95, 0.5, np.nan, 1.0])
    assert count_blinks(series, 0.85) == 2  # 0.9 is not half-way back (0.925); 0.95 is


def test_a_head_turned_left_and_right_reports_both_yaws_in_degrees() -> None:
    head = head_cloud()
    yaws = [0.0] * 10 + [30.0] * 4 + [0.0] * 10 + [-20.0] * 3 + [0.0] * 10
    result = turn_check([observe(head, i / 30, yaw=y) for i, y in enumerate(yaws)])
    assert result.passed
    seen = result.observed
    # Degrees as the tracker's pose measures them (it reads the synthetic head a little wide).
    left, right = (observe(head, 0.0, yaw=y).pose.yaw_deg for y in (30.0, -20.0))
    assert seen["max_yaw_left_deg"] == pytest.approx(left, abs=0.5)
    assert seen["max_yaw_right_deg"] == pytest.approx(-right, abs=0.5)
    assert result.score == seen["max_yaw_left_deg"]


def test_a_turn_held_for_one_frame_or_under_the_limit_is_not_a_turn() -> None:
    head = head_cloud()
    flick = [0.0] * 10 + [40.0] + [0.0] * 10
    small = [0.0] * 10 + [8.0] * 5 + [0.0] * 10
    assert not turn_check([observe(head, i / 30, yaw=y) for i, y in enumerate(flick)]).passed
    assert not turn_check([observe(head, i / 30, yaw=y) for i, y in enumerate(small)]).passed
    assert "at least 3" in turn_check([observe(head, 0.0)]).detail


def test_the_config_decides_the_clip_limits() -> None:
    limits = clip_limits(FaceSection(clip_blink_closed_ratio=0.7, clip_turn_deg=25.0,
                                     antispoof_min_live=0.6))
    assert (limits.blink_closed_ratio, limits.turn_deg, limits.antispoof_min_real) == (
        0.7, 25.0, 0.6)
    assert clip_limits(FaceSection()).blink_closed_ratio == 0.85


@pytest.mark.parametrize("field", [{"clip_blink_closed_ratio": 1.2},
                                   {"clip_blink_closed_ratio": 0.0},
                                   {"clip_turn_deg": 95.0}])
def test_clip_limits_out_of_range_are_refused(field: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"face\.clip_"):
        FaceSection(**field)
