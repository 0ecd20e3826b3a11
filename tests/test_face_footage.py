"""The clip checks on the shared real footage (blink, no-blink, head-turn), through the CLI.

Skipped when the shared face videos are absent. The full numbers are in
`scanpay bench face --only liveness`; these are the hardest cases of the dev clips.
"""

from __future__ import annotations

import json

import pytest

from terminal.cli.main import main
from tests.face_shared import FACES

VIDEO = FACES / "video"
needs_footage = pytest.mark.skipif(
    not (VIDEO / "blink" / "manifest.csv").is_file()
    or not (VIDEO / "head-turn" / "manifest.csv").is_file(),
    reason="shared face videos (data/faces/video/blink, head-turn) not present")

pytestmark = [pytest.mark.shared, needs_footage]


def _liveness(capsys: pytest.CaptureFixture[str], *files: str) -> list[dict]:
    assert main(["face", "liveness", "--json", *[str(f) for f in files]]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def test_a_shallow_blink_at_15_fps_is_seen_and_counted_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    # Motion blur at 14.6 fps hides the closed lid: the shallowest dip of the dev blink clips.
    (row,) = _liveness(capsys, VIDEO / "blink" / "focus-mahie-5lowfps_0177-0209.mp4")
    blink = row["checks"]["blink"]
    assert blink["passed"] and blink["observed"]["count"] == 1
    assert 0.1 < blink["observed"]["depth"] < 0.5
    assert row["fps"] == pytest.approx(14.6, abs=0.2)


def test_open_eyes_with_a_moving_head_show_no_blink(capsys: pytest.CaptureFixture[str]) -> None:
    # The deepest eye-openness dip of the no-blink clips (a phone held in the hand).
    (row,) = _liveness(capsys, VIDEO / "no-blink" / "selfies-61dc1ab7-8mp4_0074-0139.mp4")
    blink = row["checks"]["blink"]
    assert not blink["passed"] and blink["observed"]["count"] == 0


def test_a_head_turn_video_reports_large_yaws_both_ways(
        capsys: pytest.CaptureFixture[str]) -> None:
    (row,) = _liveness(capsys, VIDEO / "head-turn" / "asreal-621ea6f5.mp4")
    turn = row["checks"]["head_turn"]
    assert turn["passed"]
    assert turn["observed"]["max_yaw_left_deg"] > 30
    assert turn["observed"]["max_yaw_right_deg"] > 30
    assert {"planar_motion", "moire", "specular", "gamut", "smile"} <= set(row["checks"])
    assert row["frames"] == row["face_frames"] > 200
