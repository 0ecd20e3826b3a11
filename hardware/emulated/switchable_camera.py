"""A camera whose view can be switched while a terminal reads it: the dev panel's camera.

Another thread (the panel) picks what is in front of the lens — nothing, a phone showing a
payment code, a looping face clip, a still photo or phone screen held up, an image file — and
the terminal's capture thread keeps reading frames paced to the configured rate. A source that
fails or ends is replaced by an empty scene; the camera itself never ends until closed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from hardware._callbacks import CallbackList
from hardware.cameras.base import CameraBase, Clock, check_size, resize_to
from hardware.cameras.pacing import FramePacer, Wait
from hardware.errors import CameraError
from hardware.ports import Callback, Camera, Unsubscribe

logger = logging.getLogger(__name__)

SourceKind = Literal["nothing", "code", "clip", "photo", "screen", "image", "custom"]


@dataclass(frozen=True)
class CameraView:
    """What the camera sees now: the kind of source and a short label for people."""

    kind: SourceKind
    label: str
    serial: int  # 1 for the first view, then one more on every switch


class SwitchableCamera(CameraBase):
    """Delivers frames of the current source, at most ``fps`` a second, switchable at run time.

    Pacing (:class:`FramePacer`) uses the injected ``clock`` (monotonic seconds) and
    ``wait(seconds)``; the default wait ends when the camera is closed. Every frame is scaled
    to ``size``.
    """

    def __init__(
        self,
        *,
        size: tuple[int, int] = (640, 480),
        fps: float = 15.0,
        clock: Clock = time.monotonic,
        wait: Wait | None = None,
        seed: int = 0,
    ) -> None:
        checked = check_size(size)
        assert checked is not None
        if not (isinstance(fps, int | float) and math.isfinite(fps) and 0 < fps <= 240):
            raise CameraError(f"fps must be in (0, 240], got {fps!r}")
        super().__init__(checked, clock=clock)
        self._pacer = FramePacer(fps, clock=clock, wait=wait)
        self._seed = int(seed)
        self._switch = threading.Lock()  # guards the source and the view
        self._reading = threading.Lock()  # held while a source is read, closed or replaced
        self._source: Camera | None = None
        self._view = CameraView("nothing", "nothing in view", 0)
        self._changed = CallbackList("on_change")
        self.show_nothing()

    @property
    def fps(self) -> float:
        """The most frames a second this camera delivers."""
        return self._pacer.fps

    @property
    def view(self) -> CameraView:
        """What is in front of the camera now."""
        with self._switch:
            return self._view

    def on_change(self, callback: Callback) -> Unsubscribe:
        """Call ``callback()`` after every switch of the view; returns a function to unregister."""
        return self._changed.add(callback)

    # -- switching (any thread) ------------------------------------------------------------

    def show_nothing(self) -> CameraView:
        """An empty scene: nothing held up to the camera."""
        from hardware.emulated.synthetic_camera import SyntheticCamera

        return self.show(SyntheticCamera(None, size=self.size, seed=self._seed),
                         "nothing", "nothing in view")

    def show_code(self, payload: bytes | str, *, label: str = "") -> CameraView:
        """A phone held up showing ``payload`` as a QR code."""
        from hardware.emulated.synthetic_camera import SyntheticCamera

        camera = SyntheticCamera(payload, size=self.size, seed=self._seed)
        return self.show(camera, "code", label or "a phone showing a QR code")

    def show_clip(self, path: str | Path, *, label: str = "") -> CameraView:
        """A video (a face clip) or a folder of frames, looping."""
        from hardware.emulated.file_camera import FileCamera

        camera = FileCamera(path, loop=True, size=self.size)
        return self.show(camera, "clip", label or f"clip {Path(path).name}")

    def show_image(self, path: str | Path, *, label: str = "") -> CameraView:
        """A still image file, as if the camera saw exactly that picture."""
        from hardware.emulated.file_camera import FileCamera

        camera = FileCamera(path, loop=True, size=self.size)
        if camera.source_kind != "image":
            camera.close()
            raise CameraError(f"{path} is not a still image (use a clip for videos and folders)")
        return self.show(camera, "image", label or f"image {Path(path).name}")

    def show_held(self, image: np.ndarray | str | Path, medium: Literal["print", "screen"], *,
                  label: str = "") -> CameraView:
        """A still photo (``"print"``) or a phone screen (``"screen"``) held up to the camera."""
        from hardware.emulated.held_photo import HeldPhotoCamera

        camera = HeldPhotoCamera(image, medium=medium, size=self.size, seed=self._seed)
        kind: SourceKind = "photo" if medium == "print" else "screen"
        default = "a printed photo held up" if medium == "print" else "a phone screen held up"
        return self.show(camera, kind, label or default)

    def show(self, camera: Camera, kind: SourceKind = "custom", label: str = "") -> CameraView:
        """Put ``camera`` in front of the lens from the next frame on; the old source is closed.

        The camera takes ownership of ``camera``.
        """
        with self._reading, self._switch:
            if self._closed:
                camera.close()
                raise CameraError("the camera is closed")
            old, self._source = self._source, camera
            self._view = view = CameraView(kind, label or kind, self._view.serial + 1)
            if old is not None:
                old.close()  # not while the capture thread reads it: it holds _reading
        logger.info("camera view: %s", view.label)
        self._changed.fire()
        return view

    # -- reading (the capture thread) ------------------------------------------------------

    def _grab(self) -> np.ndarray | None:
        self._pacer.pace()
        for _ in range(2):  # the current source, then the empty scene if it failed or ended
            with self._reading:
                if self._closed or self._source is None:
                    return None
                try:
                    frame = self._source.read()
                except Exception as exc:
                    logger.warning("camera source failed (%s); showing nothing", exc)
                    frame = None
            if frame is not None:
                return resize_to(frame.image, self.size)
            try:
                self.show_nothing()
            except CameraError:  # closed meanwhile
                return None
        return None

    def _release(self) -> None:
        self._pacer.interrupt()
        with self._reading, self._switch:
            source, self._source = self._source, None
            if source is not None:
                source.close()
        self._changed.clear()
