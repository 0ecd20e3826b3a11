"""FileCamera plays images, folders and videos written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hardware.emulated import FileCamera, ManualClock, SteppingClock
from hardware.errors import CameraError
from terminal.shared_data import shared_root


def _write(path: Path, image: np.ndarray) -> Path:
    import cv2

    assert cv2.imwrite(str(path), image)
    return path


def _solid(value: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    return np.full((size[1], size[0], 3), value, np.uint8)


def _write_video(path: Path, values: list[int], size: tuple[int, int] = (64, 48)) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    assert writer.isOpened()
    for value in values:
        writer.write(_solid(value, size))
    writer.release()
    return path


def _means(camera: FileCamera) -> list[int]:
    return [round(float(frame.image.mean())) for frame in camera]


def test_single_image_is_delivered_once_by_default(tmp_path: Path) -> None:
    with FileCamera(_write(tmp_path / "a.png", _solid(100))) as camera:
        assert camera.source_kind == "image"
        assert camera.size == (64, 48)
        first = camera.read()
        assert first is not None and first.index == 0 and first.image.shape == (48, 64, 3)
        assert camera.read() is None


def test_single_image_repeats_a_fixed_count(tmp_path: Path) -> None:
    with FileCamera(_write(tmp_path / "a.png", _solid(100)), repeat=5) as camera:
        frames = list(camera)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]


def test_looped_image_repeats_until_the_limit(tmp_path: Path) -> None:
    with FileCamera(_write(tmp_path / "a.png", _solid(100)), loop=True, limit=50) as camera:
        assert len(list(camera)) == 50


def test_folder_plays_images_in_natural_name_order(tmp_path: Path) -> None:
    for name, value in (("f10.png", 30), ("f2.png", 20), ("f1.jpg", 10), ("notes.txt", 0)):
        if name.endswith(".txt"):
            (tmp_path / name).write_text("not an image")
        else:
            _write(tmp_path / name, _solid(value))
    with FileCamera(tmp_path) as camera:
        assert camera.source_kind == "folder"
        assert _means(camera) == [10, 20, 30]


def test_folder_images_of_other_sizes_are_scaled_to_the_first(tmp_path: Path) -> None:
    _write(tmp_path / "1.png", _solid(10, (64, 48)))
    _write(tmp_path / "2.png", _solid(20, (128, 96)))
    with FileCamera(tmp_path) as camera:
        shapes = [f.image.shape for f in camera]
    assert shapes == [(48, 64, 3), (48, 64, 3)]


def test_size_rescales_every_frame(tmp_path: Path) -> None:
    with FileCamera(_write(tmp_path / "a.png", _solid(50)), size=(32, 24)) as camera:
        frame = camera.read()
        assert camera.size == (32, 24)
        assert frame is not None and frame.image.shape == (24, 32, 3)


def test_video_plays_every_frame_then_ends(tmp_path: Path) -> None:
    values = [0, 60, 120, 180, 240]
    with FileCamera(_write_video(tmp_path / "clip.avi", values)) as camera:
        assert camera.source_kind == "video"
        assert camera.native_fps == pytest.approx(25.0)
        means = _means(camera)
    assert len(means) == len(values)
    assert all(abs(m - v) <= 3 for m, v in zip(means, values, strict=True))


def test_looped_video_starts_again_from_the_first_frame(tmp_path: Path) -> None:
    path = _write_video(tmp_path / "clip.avi", [0, 120, 240])
    with FileCamera(path, loop=True, limit=7) as camera:
        means = _means(camera)
    assert len(means) == 7
    assert [round(m / 120) for m in means] == [0, 1, 2, 0, 1, 2, 0]


def test_native_fps_stamps_video_frames_with_media_time(tmp_path: Path) -> None:
    path = _write_video(tmp_path / "clip.avi", [0, 50, 100, 150])
    with FileCamera(path, fps="native") as camera:
        stamps = [f.timestamp for f in camera]
    assert stamps == pytest.approx([0.0, 0.04, 0.08, 0.12])


def test_timestamps_come_from_the_injected_clock(tmp_path: Path) -> None:
    clock = ManualClock(start=100.0)
    with FileCamera(_write(tmp_path / "a.png", _solid(1)), repeat=3, clock=clock) as camera:
        first = camera.read()
        clock.advance(0.5)
        second = camera.read()
    assert first is not None and second is not None
    assert (first.timestamp, second.timestamp) == (100.0, 100.5)


def test_stepping_clock_gives_a_fixed_frame_rate(tmp_path: Path) -> None:
    clock = SteppingClock(0.25)
    with FileCamera(_write(tmp_path / "a.png", _solid(1)), repeat=3, clock=clock) as camera:
        assert [f.timestamp for f in camera] == [0.0, 0.25, 0.5]


def test_missing_source_is_a_clear_camera_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="camera source not found"):
        FileCamera(tmp_path / "nope.png")


def test_undecodable_image_is_a_clear_camera_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(CameraError, match="cannot decode image file"):
        FileCamera(bad)


def test_file_that_is_neither_image_nor_video_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(CameraError, match="as an image or a video"):
        FileCamera(bad)


def test_folder_without_images_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(CameraError, match="no image files"):
        FileCamera(tmp_path)


def test_native_fps_needs_a_video(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="needs a video"):
        FileCamera(_write(tmp_path / "a.png", _solid(1)), fps="native")


@pytest.mark.parametrize("kwargs", [{"repeat": 0}, {"limit": -1}, {"fps": 0}, {"size": (0, 5)}])
def test_bad_options_are_camera_errors(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(CameraError):
        FileCamera(_write(tmp_path / "a.png", _solid(1)), **kwargs)


def test_close_is_idempotent_and_reading_after_close_fails(tmp_path: Path) -> None:
    camera = FileCamera(_write_video(tmp_path / "clip.avi", [0, 100]))
    camera.close()
    camera.close()
    with pytest.raises(CameraError, match="closed"):
        camera.read()


def _shared_dir() -> Path:
    return shared_root()


@pytest.mark.shared
def test_plays_an_eyeblink8_clip_at_its_native_rate() -> None:
    clips = sorted((_shared_dir() / "data" / "faces" / "video" / "eyeblink8").glob("*.mp4"))
    if not clips:
        pytest.skip("shared EyeBlink8 clips not found (set SCANPAY_SHARED)")
    with FileCamera(clips[0], fps="native", limit=5) as camera:
        frames = list(camera)
        fps = camera.native_fps
    assert len(frames) == 5 and fps is not None and fps > 1
    assert frames[-1].timestamp == pytest.approx(4 / fps)
    assert all(f.image.dtype == np.uint8 and f.image.ndim == 3 for f in frames)


def test_read_video_holds_the_frames_and_the_stated_rate(tmp_path: Path) -> None:
    from hardware.emulated.file_camera import read_video

    path = _write_video(tmp_path / "v.avi", [20, 120, 220])
    frames, fps = read_video(path)
    assert [round(float(f.mean()), -1) for f in frames] == [20, 120, 220]
    assert fps == 25.0
    assert len(read_video(path, limit=2)[0]) == 2
    (tmp_path / "bad.avi").write_bytes(b"not a video")
    with pytest.raises(CameraError):
        read_video(tmp_path / "bad.avi")
