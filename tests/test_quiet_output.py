"""Quiet, honest output: one error line where one is due, no third-party start-up noise."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from hardware.gpio.pins import NO_PIN_LIBRARY_HINT, quiet_pin_factory_fallbacks

REPO = Path(__file__).resolve().parents[1]
HAS_PIN_LIBRARY = any(importlib.util.find_spec(name) is not None
                      for name in ("lgpio", "RPi", "pigpio"))


def _scanpay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "terminal.cli.main", *args],
                          capture_output=True, text=True, timeout=120, check=False, cwd=REPO)


def test_version_prints_the_package_version_and_exits_zero() -> None:
    result = _scanpay("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("scanpay ")
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""


def test_pin_factory_fallback_warnings_become_debug_lines(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    from gpiozero.exc import PinFactoryFallback

    caplog.set_level("DEBUG", logger="hardware.gpio.pins")
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        with quiet_pin_factory_fallbacks() as fallbacks:
            warnings.warn("Falling back from lgpio: No module named 'lgpio'",
                          PinFactoryFallback, stacklevel=1)
    assert escaped == []
    assert fallbacks == ["Falling back from lgpio: No module named 'lgpio'"]
    assert "Falling back from lgpio" in caplog.text


def test_other_warnings_pass_through_the_quiet_block() -> None:
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        with quiet_pin_factory_fallbacks():
            warnings.warn("something else", UserWarning, stacklevel=1)
    assert [str(w.message) for w in escaped] == ["something else"]


@pytest.mark.skipif(HAS_PIN_LIBRARY, reason="a GPIO pin library is installed: this is a Pi")
def test_run_on_a_board_without_gpio_prints_exactly_one_error_line(tmp_path: Path) -> None:
    config = (REPO / "configs" / "bike-lock.toml").read_text(encoding="utf-8")
    config = config.replace('kind = "picamera"', 'kind = "synthetic"')
    config = config.replace('"/var/lib/scanpay"', repr(str(tmp_path / "state")).replace("'", '"'))
    path = tmp_path / "bike.toml"
    path.write_text(config, encoding="utf-8")
    result = _scanpay("run", "--config", str(path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("scanpay: error: cannot set up the lock")
    assert NO_PIN_LIBRARY_HINT in result.stderr


def test_face_tracker_start_up_writes_nothing_to_stderr() -> None:
    code = ("import numpy as np\n"
            "from vision.face.tracker import FaceTracker\n"
            "with FaceTracker(mode='video') as tracker:\n"
            "    for i in range(3):\n"
            "        tracker.process(np.zeros((240, 320, 3), np.uint8), timestamp=i / 15)\n"
            "print('done')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert result.stderr == ""
