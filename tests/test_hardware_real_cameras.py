"""Real camera backends without a camera: clear errors, and the parts that need no device."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from hardware.cameras.opencv import OpenCvCamera
from hardware.cameras.picamera import PiCamera, yuv420_to_bgr
from hardware.errors import CameraError


def test_missing_camera_index_is_a_clear_camera_error() -> None:
    with pytest.raises(CameraError, match="no camera at index 99"):
        OpenCvCamera(99)


def test_missing_device_path_is_a_clear_camera_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="does not exist"):
        OpenCvCamera(str(tmp_path / "video7"))


def test_device_that_is_not_a_camera_is_a_clear_camera_error(tmp_path: Path) -> None:
    not_video = tmp_path / "notes.txt"
    not_video.write_text("hello")
    with pytest.raises(CameraError, match="cannot open camera"):
        OpenCvCamera(str(not_video))


@pytest.mark.parametrize("device", [-1, True, 1.5])
def test_bad_device_values_are_rejected(device: object) -> None:
    with pytest.raises(CameraError):
        OpenCvCamera(device)  # type: ignore[arg-type]


def test_capture_stream_is_rescaled_and_its_end_is_reported(tmp_path: Path) -> None:
    """A recorded stream stands in for the device: frames come at ``size``, then loss is loud."""
    import cv2

    path = tmp_path / "stream.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (160, 120))
    for value in (40, 200):
        writer.write(np.full((120, 160, 3), value, np.uint8))
    writer.release()
    with OpenCvCamera(str(path), size=(80, 60)) as camera:
        frames = [camera.read(), camera.read()]
        assert [f.image.shape for f in frames if f] == [(60, 80, 3)] * 2
        with pytest.raises(CameraError, match="stopped delivering frames"):
            camera.read()


def test_picamera_without_picamera2_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # makes the import fail
    with pytest.raises(CameraError, match="picamera2 is not installed"):
        PiCamera()


@pytest.mark.parametrize("kwargs", [{"size": (641, 480)}, {"size": (2000, 1500)}, {"fps": 0}])
def test_picamera_checks_its_options_before_touching_the_camera(kwargs: dict) -> None:
    with pytest.raises(CameraError):
        PiCamera(**kwargs)


def _i420_with_stride(bgr: np.ndarray, stride: int) -> np.ndarray:
    """Lay out ``bgr`` as picamera2 does a lores YUV420 buffer with row padding."""
    import cv2

    h, w = bgr.shape[:2]
    packed = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    y = packed[:h]
    chroma = packed[h:].reshape(2, h // 2, w // 2)
    out = np.zeros((h * 3 // 2, stride), np.uint8)
    out[:h, :w] = y
    for plane, rows in zip(chroma, (slice(h, h + h // 4), slice(h + h // 4, None)), strict=True):
        padded = np.zeros((h // 2, stride // 2), np.uint8)
        padded[:, : w // 2] = plane
        out[rows] = padded.reshape(h // 4, stride)
    return out


@pytest.mark.parametrize("stride", [64, 128])
def test_yuv420_lores_buffers_convert_to_bgr(stride: int) -> None:
    rng = np.random.default_rng(0)
    bgr = np.kron(rng.integers(0, 255, (6, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    converted = yuv420_to_bgr(_i420_with_stride(bgr, stride), (64, 48))
    assert converted.shape == (48, 64, 3)
    assert np.abs(converted.astype(int) - bgr.astype(int)).mean() < 4.0


def test_yuv420_buffer_of_the_wrong_shape_is_a_camera_error() -> None:
    with pytest.raises(CameraError, match="YUV420"):
        yuv420_to_bgr(np.zeros((48, 64), np.uint8), (64, 48))
