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
