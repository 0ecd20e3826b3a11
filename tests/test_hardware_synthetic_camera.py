"""SyntheticCamera films a QR payload that a real decoder (zbar) reads back."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.emulated import ManualClock, SyntheticCamera
from hardware.emulated.scene import SceneConditions
from hardware.errors import CameraError


def _decode(image: np.ndarray) -> list[bytes]:
    from pyzbar import pyzbar

    return [symbol.data for symbol in pyzbar.decode(image)]


def test_frames_decode_to_the_payload() -> None:
    with SyntheticCamera("SCANPAY:ride:4711", size=(640, 480)) as camera:
        frames = [camera.read() for _ in range(3)]
    for frame in frames:
        assert frame is not None
        assert frame.image.shape == (480, 640, 3)
        assert _decode(frame.image) == [b"SCANPAY:ride:4711"]
    assert [f.index for f in frames if f] == [0, 1, 2]


def test_show_switches_the_payload_and_none_shows_no_code() -> None:
    with SyntheticCamera(None) as camera:
        empty = camera.read()
        camera.show(b"pay-code-2")
        shown = camera.read()
        camera.show(None)
        gone = camera.read()
    assert empty is not None and shown is not None and gone is not None
    assert _decode(empty.image) == []
    assert _decode(shown.image) == [b"pay-code-2"]
    assert _decode(gone.image) == []
    assert camera.payload is None


def test_conditions_are_kept_when_only_the_payload_changes() -> None:
    sticker = SceneConditions(style="sticker", tilt_deg=20.0)
    with SyntheticCamera("a", conditions=sticker) as camera:
        camera.show("b")
        assert camera.conditions == sticker
        frame = camera.read()
    assert frame is not None and _decode(frame.image) == [b"b"]


def test_successive_frames_differ_with_jitter_and_repeat_without() -> None:
    with SyntheticCamera("x", jitter=True) as camera:
        a, b = camera.read(), camera.read()
    assert a is not None and b is not None
    assert np.mean(a.image != b.image) > 0.2
    with SyntheticCamera("x", jitter=False) as still:
        c, d = still.read(), still.read()
    assert c is not None and d is not None
    assert np.array_equal(c.image, d.image)


def test_same_seed_gives_the_same_frames() -> None:
    with SyntheticCamera("x", seed=7) as one, SyntheticCamera("x", seed=7) as two:
        a, b = one.read(), two.read()
    assert a is not None and b is not None
    assert np.array_equal(a.image, b.image)


def test_timestamps_come_from_the_injected_clock() -> None:
    clock = ManualClock(start=5.0)
    with SyntheticCamera("x", clock=clock) as camera:
        clock.advance(0.1)
        frame = camera.read()
    assert frame is not None and frame.timestamp == pytest.approx(5.1)


def test_bad_payload_type_is_a_camera_error() -> None:
    with pytest.raises(CameraError, match="payload must be"):
        SyntheticCamera(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [3000, 8000])
def test_payload_too_long_for_a_qr_code_is_a_camera_error(length: int) -> None:
    with pytest.raises(CameraError, match="cannot render"):
        SyntheticCamera("x" * length)
