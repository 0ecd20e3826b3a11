"""The synthetic camera scene renderer."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.emulated.scene import (
    CAMERA_PRESETS,
    SceneConditions,
    qr_modules,
    random_conditions,
    render_qr_scene,
)
from vision.qr.engines import EngineSet, to_gray


def test_same_seed_gives_identical_frames_and_other_seeds_differ() -> None:
    cond = CAMERA_PRESETS["mixed"]
    a = render_qr_scene("ride-1", cond, seed=3)
    b = render_qr_scene("ride-1", cond, seed=3)
    c = render_qr_scene("ride-1", cond, seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_frame_is_bgr_uint8_of_requested_size() -> None:
    frame = render_qr_scene(b"\x00\x01", SceneConditions(jpeg_quality=30), size=(320, 240))
    assert frame.shape == (240, 320, 3)
    assert frame.dtype == np.uint8


@pytest.mark.parametrize("style", ["phone", "sticker"])
def test_clean_scene_holds_a_readable_code(style: str) -> None:
    frame = render_qr_scene("SCANPAY:clean", SceneConditions(style=style), seed=1)
    codes = EngineSet().zxing(to_gray(frame))
    assert [c.text for c in codes] == ["SCANPAY:clean"]


def test_scene_without_payload_holds_no_code() -> None:
    frame = render_qr_scene(None, seed=2)
    assert EngineSet().zxing(to_gray(frame)) == []


def test_inverted_scene_draws_light_modules_on_a_dark_screen() -> None:
    modules = qr_modules("x")
    assert modules.dtype == bool and modules[0, 0]  # finder corner is dark in the symbol
    normal = to_gray(render_qr_scene("x", SceneConditions(scale=0.5), seed=0))
    dark = to_gray(render_qr_scene("x", SceneConditions(scale=0.5, inverted=True), seed=0))
    centre = (slice(200, 280), slice(280, 360))
    assert dark[centre].mean() < normal[centre].mean()


def test_degradations_change_the_frame() -> None:
    clean = render_qr_scene("x", seed=5).astype(int)
    for cond in (SceneConditions(blur_sigma=3), SceneConditions(noise_sigma=10),
                 SceneConditions(glare=1.0), SceneConditions(moire=1.0),
                 SceneConditions(motion_blur_px=9), SceneConditions(brightness=0.2),
                 SceneConditions(tilt_deg=50)):
        assert np.abs(render_qr_scene("x", cond, seed=5).astype(int) - clean).mean() > 0.5


def test_random_conditions_are_deterministic_and_reject_unknown_families() -> None:
    assert random_conditions(9) == random_conditions(9)
    assert random_conditions(1, "far").name == "far"
    with pytest.raises(ValueError, match="unknown scene family"):
        random_conditions(1, "underwater")


def test_too_small_frame_is_rejected() -> None:
    with pytest.raises(ValueError, match="too small"):
        render_qr_scene("x", size=(8, 8))
