"""The cheaper session cues measure what they measured before: the moiré of a real FFT is the
full FFT's, the banding smoothing is OpenCV's blur; the replay bench times the cues."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision.face.passive import moire_score
from vision.face.session_cues import _high_pass, native_moire
from vision.face.types import Box, FaceMeasures, FaceObservation, HeadPose, Point


def _observation(box: Box) -> FaceObservation:
    return FaceObservation(
        timestamp=0.0, box=box, landmarks=np.zeros((478, 2), np.float32),
        keypoints={"right_eye": Point(0, 0), "left_eye": Point(1, 0)},
        pose=HeadPose(0.0, 0.0, 0.0), measures=FaceMeasures(0.3, 0.3, 0.3, 1.5, 0.0),
        face_count=1, image_width=640, image_height=480)


@pytest.mark.parametrize("side", [46, 47, 64, 101, 133])
def test_native_moire_is_moire_score_of_the_central_crop(side: int) -> None:
    rng = np.random.default_rng(side)
    grey = rng.integers(0, 256, (480, 640)).astype(np.uint8)
    xs = np.arange(640)
    grey[:, :] = np.clip(grey * 0.3 + 90 + 60 * np.sin(xs * 2.7)[None, :], 0, 255)
    box = Box(200.0, 150.0, side / 0.7, side / 0.7)
    rows, cols = box.scaled(0.7).slices(640, 480)
    crop = grey[rows, cols]
    n = min(crop.shape)
    assert native_moire(grey, _observation(box)) == pytest.approx(
        moire_score(crop[:n, :n]), abs=1e-9)


@pytest.mark.parametrize("length", [24, 25, 57, 160, 333])
def test_the_banding_high_pass_is_opencvs_gaussian_blur(length: int) -> None:
    profile = np.random.default_rng(length).normal(size=length).astype(np.float32)
    sigma = max(2.0, 0.25 * length)
    smooth = cv2.GaussianBlur(profile.reshape(-1, 1).astype(np.float64), (1, 0), sigmaX=0.1,
                              sigmaY=sigma, borderType=cv2.BORDER_REFLECT).ravel()
    assert np.allclose(_high_pass(profile, length), profile - smooth, atol=1e-12)


def test_the_replay_bench_times_the_cues() -> None:
    from terminal.bench.face_replay import cue_cost
    from terminal.shared_data import shared_root

    video = shared_root() / "data" / "faces" / "video"
    if not (video / "blink" / "manifest.csv").is_file():
        pytest.skip("shared face clips not present")
    cost = cue_cost(video, session_s=0.5, kinds=("blink",), say=lambda _msg: None)
    assert cost["sessions"] == ["blink/genuine", "blink/phone", "blink/monitor"]
    assert cost["frames"] == len(cost["ms"]) > 0
    assert 0 < cost["median_ms"] <= cost["p90_ms"] and cost["mean_ms"] > 0
    assert cost["opencv_threads"] == 1
