"""Quality gates before embedding: one face, size, pose, sharpness, exposure."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from vision.face.quality import QualityLimits, assess_quality
from vision.face.synthetic import head_cloud, observe


def _textured(level: int = 128, blur: int = 0) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(level, 30, (480, 640)), 0, 255).astype(np.uint8)
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def test_a_frontal_sharp_well_lit_single_face_passes_every_gate() -> None:
    report = assess_quality(observe(head_cloud(), 0.0), _textured())
    assert report.passed, report.failed
    assert {g.name for g in report.gates} == {
        "one_face", "face_size", "yaw", "pitch", "roll", "sharpness", "brightness", "clipping"}


def test_each_gate_reports_value_limit_and_a_hint() -> None:
    obs = replace(observe(head_cloud(), 0.0), face_count=2)
    report = assess_quality(obs, _textured())
    gate = report.gate("one_face")
    assert not gate.passed and gate.value == 2 and gate.limit == "<= 1"
    assert "one person" in gate.hint
    assert report.failed == (gate,)


def test_a_turned_head_fails_the_yaw_gate() -> None:
    report = assess_quality(observe(head_cloud(), 0.0, yaw=35), _textured())
    assert not report.gate("yaw").passed
    assert report.gate("pitch").passed


def test_blur_darkness_and_glare_each_fail_their_gate() -> None:
    obs = observe(head_cloud(), 0.0)
    assert not assess_quality(obs, _textured(blur=4)).gate("sharpness").passed
    dark = assess_quality(obs, _textured(level=20))
    assert not dark.gate("brightness").passed and dark.gate("brightness").hint == "too dark"
    blown = assess_quality(obs, np.full((480, 640, 3), 255, np.uint8))
    assert not blown.gate("clipping").passed


def test_a_small_face_fails_and_limits_can_be_relaxed() -> None:
    obs = observe(head_cloud(), 0.0)
    strict = QualityLimits(min_interocular_px=obs.interocular + 10)
    assert not assess_quality(obs, _textured(), strict).gate("face_size").passed
    loose = QualityLimits(min_interocular_px=obs.interocular - 10)
    assert assess_quality(obs, _textured(), loose).gate("face_size").passed


def test_a_face_box_off_the_image_fails_instead_of_raising() -> None:
    obs = observe(head_cloud(), 0.0)
    report = assess_quality(obs, np.zeros((10, 10, 3), np.uint8))
    assert not report.passed
