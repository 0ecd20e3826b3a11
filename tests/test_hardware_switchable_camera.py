"""SwitchableCamera: the view is switched from another thread while frames keep coming, paced."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from hardware.emulated import ManualClock
from hardware.emulated.switchable_camera import SwitchableCamera
from hardware.errors import CameraError
from hardware.ports import Camera, Frame


def _decode(image: np.ndarray) -> list[bytes]:
    from pyzbar import pyzbar

    return [symbol.data for symbol in pyzbar.decode(image)]


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


def _camera(**kwargs: object) -> tuple[SwitchableCamera, ManualClock, list[float]]:
    clock = ManualClock(100.0)
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(round(seconds, 9))
        clock.advance(seconds)

    camera = SwitchableCamera(size=(320, 240), fps=10.0, clock=clock, wait=wait, **kwargs)
    return camera, clock, waits


def _read(camera: SwitchableCamera) -> Frame:
    frame = camera.read()
    assert frame is not None
    return frame


def test_it_is_a_camera_that_starts_with_nothing_in_view() -> None:
    camera, _, _ = _camera()
    with camera:
        assert isinstance(camera, Camera)
        frame = _read(camera)
        assert frame.image.shape == (240, 320, 3)
        assert _decode(frame.image) == []
        assert camera.view.kind == "nothing"


def test_frames_are_paced_to_the_fps_on_the_injected_clock() -> None:
    camera, clock, waits = _camera()
    with camera:
        stamps = [_read(camera).timestamp for _ in range(4)]
        clock.advance(0.35)  # the reader was busy for longer than a frame: no burst after it
        late = _read(camera).timestamp
        after = _read(camera).timestamp
    assert stamps == pytest.approx([100.0, 100.1, 100.2, 100.3])
    assert waits == pytest.approx([0.1, 0.1, 0.1, 0.1])
    assert late == pytest.approx(100.65)
    assert after == pytest.approx(100.75)


def test_a_phone_code_shows_until_switched_away() -> None:
    camera, _, _ = _camera()
    with camera:
        view = camera.show_code("SCANPAY:test:1", label="rider-good's wallet")
        assert (view.kind, view.label) == ("code", "rider-good's wallet")
        assert _decode(_read(camera).image) == [b"SCANPAY:test:1"]
        assert _decode(_read(camera).image) == [b"SCANPAY:test:1"]
        camera.show_nothing()
        assert _decode(_read(camera).image) == []


def test_a_clip_loops_and_is_scaled_to_the_camera_size(tmp_path: Path) -> None:
    clip = _write_video(tmp_path / "clip.avi", [20, 240])
    camera, _, _ = _camera()
    with camera:
        camera.show_clip(clip)
        means = [float(_read(camera).image.mean()) for _ in range(5)]
        assert camera.view.kind == "clip" and camera.view.label == "clip clip.avi"
    assert [m > 128 for m in means] == [False, True, False, True, False]


def test_an_image_file_is_shown_and_a_video_is_not_taken_for_an_image(tmp_path: Path) -> None:
    import cv2

    still = tmp_path / "still.png"
    assert cv2.imwrite(str(still), _solid(200, (32, 24)))
    camera, _, _ = _camera()
    with camera:
        camera.show_image(still)
        frame = _read(camera)
        assert frame.image.shape == (240, 320, 3)
        assert float(frame.image.mean()) == pytest.approx(200, abs=1)
        with pytest.raises(CameraError, match="not a still image"):
            camera.show_image(_write_video(tmp_path / "v.avi", [10]))
        assert camera.view.kind == "image"  # a refused switch keeps the current view


def test_a_held_photo_or_screen_is_a_moving_flat_picture() -> None:
    photo = np.zeros((120, 90, 3), np.uint8)
    photo[:, :45] = 250
    camera, _, _ = _camera()
    with camera:
        assert camera.show_held(photo, "print").kind == "photo"
        first, second = _read(camera).image, _read(camera).image
        assert camera.show_held(photo, "screen").kind == "screen"
        screen = _read(camera).image
    assert not np.array_equal(first, second)  # the hand moves
    assert first.shape == screen.shape == (240, 320, 3)


def test_a_missing_file_is_refused_with_the_path() -> None:
    camera, _, _ = _camera()
    with camera:
        with pytest.raises(CameraError, match=r"nowhere\.mp4"):
            camera.show_clip("nowhere.mp4")
        assert camera.view.kind == "nothing"


def test_a_source_that_ends_is_replaced_by_an_empty_scene(tmp_path: Path) -> None:
    from hardware.emulated.file_camera import FileCamera

    clip = _write_video(tmp_path / "once.avi", [240])
    camera, _, _ = _camera()
    with camera:
        camera.show(FileCamera(clip, loop=False), "clip", "played once")
        assert float(_read(camera).image.mean()) > 200
        after = _read(camera)  # the clip ended: the camera goes on with nothing in view
        assert camera.view.kind == "nothing"
        assert after.index == 1


def test_switch_listeners_hear_every_switch_and_serials_count_up() -> None:
    camera, _, _ = _camera()
    heard: list[str] = []
    with camera:
        camera.on_change(lambda: heard.append(camera.view.kind))
        first = camera.view.serial
        camera.show_code("A")
        camera.show_nothing()
        assert camera.view.serial == first + 2
    assert heard == ["code", "nothing"]


def test_switching_from_another_thread_while_reading() -> None:
    camera = SwitchableCamera(size=(320, 240), fps=240.0)
    seen: set[bytes] = set()
    switched = threading.Event()

    def reader() -> None:
        while not switched.is_set() or not seen:
            frame = camera.read()
            if frame is None:
                return
            seen.update(_decode(frame.image))

    with camera:
        thread = threading.Thread(target=reader)
        thread.start()
        camera.show_code("FROM-ANOTHER-THREAD")
        switched.set()
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert seen == {b"FROM-ANOTHER-THREAD"}


def test_close_ends_reading_and_refuses_new_views() -> None:
    camera, _, _ = _camera()
    camera.close()
    camera.close()
    with pytest.raises(CameraError):
        camera.read()
    with pytest.raises(CameraError, match="closed"):
        camera.show_code("late")


def test_bad_fps_is_refused() -> None:
    with pytest.raises(CameraError, match="fps"):
        SwitchableCamera(fps=0)
