"""The face bench's plots, drawn from synthetic report numbers (no shared data needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from terminal.bench.face import openness_series
from terminal.bench.face_plots import plot_all

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _clip(name: str, dip: float | None) -> dict[str, object]:
    series = np.ones(90) + 0.02 * np.sin(np.arange(90))
    if dip is not None:
        series[40:44] = dip
    values = openness_series(tuple(series))
    values[10] = None  # a frame whose pose jumped
    return {"clip": name, "blink_passed": dip is not None and dip <= 0.72,
            "blink_depth": 0.0 if dip is None else round(1 - dip, 3),
            "relative_openness": values}


def test_the_eyeblink8_traces_are_written_as_a_png_next_to_the_other_plots(
        tmp_path: Path) -> None:
    clips = [_clip(f"video0_blink{i:02d}", 0.3 if i < 2 else None) for i in range(11)]
    report = {"liveness": {"eyeblink8": {"closed_ratio": 0.72, "per_clip": clips}}}
    paths = plot_all(tmp_path, report, {})
    assert paths == [tmp_path / "eyeblink8_openness.png"]
    data = paths[0].read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_no_traces_no_plot(tmp_path: Path) -> None:
    assert plot_all(tmp_path, {"liveness": {"eyeblink8": {"per_clip": []}}}, {}) == []


def test_openness_series_rounds_and_turns_unjudged_frames_into_none() -> None:
    assert openness_series((1.23456, math.nan, 0.5)) == [1.235, None, 0.5]


def test_the_real_footage_plot_is_written_from_the_liveness_section(tmp_path: Path) -> None:
    def clip(name: str, lowest: float, fps: float) -> dict[str, object]:
        return {"clip": name, "fps": fps, "lowest_openness": lowest}

    footage = {
        "limits": {"blink_closed_ratio": 0.85, "turn_deg": 15.0},
        "blink": {"clips": 2, "blink_seen": 2,
                  "per_clip": [clip("a.mp4", 0.2, 30.0), clip("b.mp4", 0.8, 15.0)]},
        "no_blink": {"clips": 1, "false_blinks": 0, "per_clip": [clip("c.mp4", 0.9, 30.0)]},
        "head_turn": {"videos": 1, "passed": 1, "per_video": [
            {"video": "v.mp4", "max_yaw_left_deg": 40.0, "max_yaw_right_deg": 35.0}]},
    }
    paths = plot_all(tmp_path, {"liveness": {"footage": footage}}, {})
    assert paths == [tmp_path / "liveness_footage.png"]
    assert paths[0].read_bytes().startswith(PNG_MAGIC)


def test_a_blink_limit_is_derived_only_when_the_clips_separate() -> None:
    from terminal.bench.face_liveness import derive_blink_limit

    derived = derive_blink_limit([0.1, 0.81], [0.88, 0.95])
    assert derived["closed_ratio"] == 0.845 and derived["margin"] == 0.07
    assert derive_blink_limit([0.1, 0.9], [0.88])["closed_ratio"] is None
    assert derive_blink_limit([], [0.9])["closed_ratio"] is None


def test_only_picks_sections_and_skip_removes_them() -> None:
    from terminal.bench.face import SECTIONS, sections_to_run

    assert sections_to_run(["liveness"], []) == ["liveness"]
    assert sections_to_run([], ["attacks"]) == [s for s in SECTIONS if s != "attacks"]
    assert sections_to_run([], []) == list(SECTIONS)
