"""The live QR scan loop: capture in its own thread, decode only the freshest frame.

A capture thread keeps reading the frame source and holds just the newest frame; a frame
that is replaced before the decoder got to it is dropped (counted in ``stats``), so decoding
never lags behind the camera. The caller's thread decodes, through a
:class:`vision.qr.stream.StreamDecoder` around the given cascade: the cheap path on every
frame, and the heavy rescue only where a symbol was seen in the last frames, on the sharpest
of them. A code is reported once it was read in ``confirm_frames`` processed frames in a row,
and the same payload is not reported again until it has been out of view for
``repeat_after_s`` seconds (frame timestamps). Code-free frames cost little because the
decoder rejects them fast.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vision.errors import VisionError
from vision.qr.cascade import QrDecoder
from vision.qr.result import QrCode
from vision.qr.stream import StreamDecoder, StreamSettings

logger = logging.getLogger(__name__)


class FrameLike(Protocol):
    """What a camera frame offers: the image and its capture time in seconds."""

    @property
    def image(self) -> np.ndarray: ...

    @property
    def timestamp(self) -> float: ...


class FrameSource(Protocol):
    """Anything with ``read()`` returning a frame, or None when the source has ended."""

    def read(self) -> Any: ...


class ScanSourceError(VisionError):
    """The frame source failed while the scanner was reading it."""


@dataclass(frozen=True)
class ScanEvent:
    """A confirmed code: the decode, the timestamp of the frame that confirmed it, and cost."""

    code: QrCode
    timestamp: float
    decode_ms: float


@dataclass(frozen=True)
class ScanStats:
    """Frame counters of a scanner."""

    captured: int
    processed: int
    dropped: int


class CodeTracker:
    """Multi-frame confirmation and de-duplication of codes, by frame timestamp (no threads)."""

    def __init__(self, confirm_frames: int = 1, repeat_after_s: float = 3.0) -> None:
        if confirm_frames < 1:
            raise ValueError("confirm_frames must be at least 1")
        self.confirm_frames = confirm_frames
        self.repeat_after_s = repeat_after_s
        self._streak: dict[bytes, int] = {}
        self._last_seen: dict[bytes, float] = {}
        self._reported: set[bytes] = set()

    def update(self, codes: tuple[QrCode, ...], timestamp: float) -> list[QrCode]:
        """Feed the codes of one processed frame; return the codes newly confirmed by it."""
        seen = {c.payload: c for c in codes}
        for payload in list(self._reported):
            last = self._last_seen.get(payload, timestamp)
            if payload not in seen and timestamp - last >= self.repeat_after_s:
                self._reported.discard(payload)
        self._streak = {p: self._streak.get(p, 0) + 1 for p in seen}
        out = []
        for payload, code in seen.items():
            self._last_seen[payload] = timestamp
            if payload in self._reported or self._streak[payload] < self.confirm_frames:
                continue
            self._reported.add(payload)
            out.append(code)
        return out


class QrScanner:
    """Scan a frame source for QR codes; use as a context manager (starts/stops the thread)."""

    def __init__(self, source: FrameSource, decoder: QrDecoder | None = None, *,
                 confirm_frames: int = 1, repeat_after_s: float = 3.0,
                 clock: Callable[[], float] = time.monotonic,
                 stream: StreamSettings | None = None) -> None:
        self._source = source
        self._decoder = decoder or QrDecoder()
        self._own_decoder = decoder is None
        self._stream = StreamDecoder(self._decoder, stream)
        self._tracker = CodeTracker(confirm_frames, repeat_after_s)
        self._clock = clock
        self._cond = threading.Condition()
        self._latest: FrameLike | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._captured = self._processed = self._dropped = 0
        self._pending: list[ScanEvent] = []

    def __enter__(self) -> QrScanner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> ScanStats:
        """Frames captured, decoded and dropped as stale so far."""
        with self._cond:
            return ScanStats(self._captured, self._processed, self._dropped)

    def start(self) -> None:
        """Start the capture thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._capture, name="qr-capture", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the capture thread and release the decoder if the scanner made it; idempotent."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if self._own_decoder:
            self._decoder.close()

    def next_code(self, timeout_s: float | None = None) -> ScanEvent | None:
        """Decode fresh frames until a confirmed new code; None on timeout or end of source."""
        self.start()
        deadline = None if timeout_s is None else self._clock() + timeout_s
        while True:
            if self._pending:
                return self._pending.pop(0)
            frame = self._take(deadline)
            if frame is None:
                return None
            self._pending.extend(self.process(frame))

    def process(self, frame: FrameLike) -> list[ScanEvent]:
        """Decode one frame (in the caller's thread) and return the codes it confirms."""
        result = self._stream.decode(frame.image)
        with self._cond:
            self._processed += 1
        confirmed = self._tracker.update(result.codes, float(frame.timestamp))
        return [ScanEvent(c, float(frame.timestamp), result.elapsed_ms) for c in confirmed]

    def _take(self, deadline: float | None) -> FrameLike | None:
        with self._cond:
            while self._latest is None:
                if self._error is not None:
                    raise ScanSourceError(f"camera failed: {self._error}") from self._error
                if self._ended or self._stop.is_set():
                    return None
                remaining = None if deadline is None else deadline - self._clock()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(timeout=0.1 if remaining is None else min(remaining, 0.1))
            frame, self._latest = self._latest, None
            return frame

    def _capture(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self._source.read()
            except Exception as exc:  # reported to the consumer as ScanSourceError
                logger.warning("frame source failed: %s", exc)
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                if frame is None:
                    self._ended = True
                    self._cond.notify_all()
                    return
                self._captured += 1
                if self._latest is not None:
                    self._dropped += 1
                self._latest = frame
                self._cond.notify_all()
