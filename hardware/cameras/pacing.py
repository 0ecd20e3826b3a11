"""Frame pacing: a source that could deliver frames instantly delivers at most ``fps`` a second.

A file or synthetic camera can produce frames as fast as the CPU allows; a unit reading it would
spin a core while it waits for a rider. A real camera blocks until the next frame is exposed;
a :class:`FramePacer` gives emulated cameras the same rhythm, on an injected clock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from hardware.errors import CameraError
from hardware.ports import Clock

Wait = Callable[[float], object]


class FramePacer:
    """Spaces successive frames at least ``1 / fps`` apart on ``clock``.

    ``wait(seconds)`` does the waiting (default: a wait that :meth:`interrupt` ends early). A
    reader that falls behind is not made to catch up with a burst: the next frame is due one
    period after the late one.
    """

    def __init__(self, fps: float, *, clock: Clock, wait: Wait | None = None) -> None:
        if not (isinstance(fps, int | float) and math.isfinite(fps) and 0 < fps <= 1000):
            raise CameraError(f"fps must be in (0, 1000], got {fps!r}")
        self._period = 1.0 / float(fps)
        self._clock = clock
        self._interrupted = threading.Event()
        self._wait: Wait = wait or self._interrupted.wait
        self._due: float | None = None

    @property
    def fps(self) -> float:
        """The most frames a second this pacer lets through."""
        return 1.0 / self._period

    def pace(self) -> None:
        """Wait until the next frame is due (at once for the first frame)."""
        now = self._clock()
        if self._due is not None and now < self._due and not self._interrupted.is_set():
            self._wait(self._due - now)
            now = self._clock()
        self._due = (now if self._due is None else max(now, self._due)) + self._period

    def interrupt(self) -> None:
        """End a pending wait and stop waiting from now on (the camera is closing)."""
        self._interrupted.set()
