"""Emulated cameras are paced to their frame rate on the injected clock, like a real sensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hardware.cameras.pacing import FramePacer
from hardware.emulated import ManualClock
from hardware.emulated.file_camera import FileCamera
from hardware.emulated.synthetic_camera import SyntheticCamera
from hardware.errors import CameraError
from hardware.factory import open_camera


def _still(tmp_path: Path) -> Path:
    import cv2

    path = tmp_path / "still.png"
    cv2.imwrite(str(path), np.full((24, 32, 3), 90, np.uint8))
    return path


def _clock_and_waits() -> tuple[ManualClock, list[float]]:
    return ManualClock(50.0), []


def test_file_camera_waits_one_period_between_frames_on_the_injected_clock(tmp_path: Path
                                                                           ) -> None:
    clock, waits = _clock_and_waits()

    def wait(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    with FileCamera(_still(tmp_path), loop=True, clock=clock, max_fps=10.0, wait=wait) as cam:
        stamps = [cam.read().timestamp for _ in range(4)]  # type: ignore[union-attr]
    assert waits == pytest.approx([0.1, 0.1, 0.1])
    assert stamps == pytest.approx([50.0, 50.1, 50.2, 50.3])


def test_a_slow_reader_is_not_made_to_wait_or_catch_up(tmp_path: Path) -> None:
    clock, waits = _clock_and_waits()
    with FileCamera(_still(tmp_path), loop=True, clock=clock, max_fps=10.0,
                    wait=waits.append) as cam:
        cam.read()
        clock.advance(0.35)  # the reader spent 350 ms on the first frame
        cam.read()
        assert waits == []
        clock.advance(0.02)
        cam.read()  # due 100 ms after the late frame, not at once to catch up
    assert waits == pytest.approx([0.08])


def test_synthetic_camera_is_paced_too() -> None:
    clock, waits = _clock_and_waits()

    def wait(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    with SyntheticCamera(None, size=(64, 48), clock=clock, max_fps=15.0, wait=wait) as cam:
        for _ in range(3):
            cam.read()
    assert waits == pytest.approx([1 / 15, 1 / 15])


def test_unpaced_cameras_never_wait(tmp_path: Path) -> None:
    clock = ManualClock()
    with FileCamera(_still(tmp_path), loop=True, clock=clock) as cam:
        for _ in range(5):
            cam.read()
    assert clock() == 0.0


def test_factory_paces_emulated_cameras_at_the_configured_rate(tmp_path: Path) -> None:
    clock = ManualClock()
    with open_camera("file", path=str(_still(tmp_path)), fps=20.0, clock=clock) as cam:
        pacer = cam._pacer  # type: ignore[attr-defined]
        assert pacer is not None and pacer.fps == pytest.approx(20.0)
    with open_camera("synthetic", size=(64, 48), fps=5.0, clock=clock) as cam:
        assert cam._pacer.fps == pytest.approx(5.0)  # type: ignore[attr-defined]


def test_closing_interrupts_pacing_so_a_reader_is_not_held_up() -> None:
    clock, waits = _clock_and_waits()
    pacer = FramePacer(1.0, clock=clock, wait=waits.append)
    pacer.pace()
    pacer.pace()
    pacer.interrupt()
    pacer.pace()
    assert waits == [1.0]  # only the wait before the camera closed


@pytest.mark.parametrize("fps", [0, -1, float("nan"), float("inf")])
def test_a_nonsense_frame_rate_is_refused(fps: float) -> None:
    with pytest.raises(CameraError, match="fps must be"):
        FramePacer(fps, clock=ManualClock())
