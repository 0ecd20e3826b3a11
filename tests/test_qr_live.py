"""The live QR scan loop: capture thread, freshest frame, confirmation and de-duplication."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from hardware.emulated.scene import render_qr_scene
from vision.qr import CodeTracker, QrCode, QrScanner, ScanSourceError


@dataclass(frozen=True)
class _Frame:
    image: np.ndarray
    timestamp: float


class _ListSource:
    """Frames from a list, then None (end of source)."""

    def __init__(self, frames: list[_Frame]) -> None:
        self._frames = list(frames)

    def read(self) -> _Frame | None:
        return self._frames.pop(0) if self._frames else None


class _FailingSource:
    def read(self) -> _Frame | None:
        raise OSError("camera unplugged")


def _code(payload: bytes) -> QrCode:
    return QrCode(payload, payload.decode(), (), "test")


def test_tracker_reports_a_code_once_while_it_stays_in_view() -> None:
    tracker = CodeTracker(confirm_frames=1, repeat_after_s=2.0)
    a = _code(b"a")
    assert tracker.update((a,), 0.0) == [a]
    assert tracker.update((a,), 0.1) == []
    assert tracker.update((), 1.0) == []
    assert tracker.update((a,), 1.5) == []  # back within the repeat window: still the same scan
    assert tracker.update((), 4.0) == []
    assert tracker.update((a,), 4.1) == [a]  # gone for over 2 s: a new presentation


def test_tracker_needs_consecutive_frames_for_confirmation() -> None:
    tracker = CodeTracker(confirm_frames=2)
    a = _code(b"a")
    assert tracker.update((a,), 0.0) == []
    assert tracker.update((), 0.1) == []
    assert tracker.update((a,), 0.2) == []
    assert tracker.update((a,), 0.3) == [a]


def test_tracker_rejects_zero_confirmation() -> None:
    with pytest.raises(ValueError):
        CodeTracker(confirm_frames=0)


def test_scanner_reports_each_code_once_and_ends_with_the_source() -> None:
    shown = render_qr_scene("SCANPAY:live:1", seed=1)
    empty = render_qr_scene(None, seed=2)
    frames = [_Frame(empty, 0.0)] + [_Frame(shown, 0.1 * i) for i in range(1, 4)]
    with QrScanner(_ListSource(frames)) as scanner:
        events = []
        while (event := scanner.next_code(timeout_s=30)) is not None:
            events.append(event)
        stats = scanner.stats
    assert [e.code.text for e in events] == ["SCANPAY:live:1"]
    assert stats.captured == 4
    assert stats.processed + stats.dropped == stats.captured


def test_scanner_processes_frames_synchronously_with_confirmation() -> None:
    shown = render_qr_scene("SCANPAY:live:2", seed=3)
    scanner = QrScanner(_ListSource([]), confirm_frames=2)
    try:
        assert scanner.process(_Frame(shown, 0.0)) == []
        (event,) = scanner.process(_Frame(shown, 0.05))
        assert event.code.text == "SCANPAY:live:2" and event.timestamp == 0.05
    finally:
        scanner.close()
        scanner.close()  # idempotent


def test_scanner_turns_a_camera_failure_into_a_vision_error() -> None:
    with QrScanner(_FailingSource()) as scanner, pytest.raises(ScanSourceError, match="unplugged"):
        scanner.next_code(timeout_s=30)
