"""The long-running bike-lock service scans codes from the camera and runs rentals."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from terminal.bikelock.service import run_service
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.states import RideState
from terminal.bikelock.unit import Notice
from terminal.config import default_config_path, load_config
from terminal.emulator.session import Emulator

CONFIG = load_config(default_config_path("emulator"))


def test_service_rents_once_per_code_and_stops_cleanly(tmp_path: Path) -> None:
    reached: dict[RideState, threading.Event] = {
        RideState.RIDING: threading.Event(), RideState.SETTLED: threading.Event()}

    def notice(n: Notice) -> None:
        if n.state in reached:
            reached[n.state].set()

    with Emulator(CONFIG, state_dir=tmp_path) as emulator, BikeLockStack(
        CONFIG, emulator.endpoints(), state_dir=tmp_path / "unit", on_notice=notice
    ) as stack:
        stop = threading.Event()
        result = []
        worker = threading.Thread(target=lambda: result.append(run_service(stack, stop)))
        worker.start()
        try:
            stack.camera.show(emulator.wallet_code("rider-good"))  # type: ignore[attr-defined]
            assert reached[RideState.RIDING].wait(30), "no rental started"
            stack.lock.close_latch()  # type: ignore[attr-defined]
            assert reached[RideState.SETTLED].wait(30), "the rental did not settle"
        finally:
            stop.set()
            worker.join(30)
        assert not worker.is_alive()
        stats = result[0]
        assert stats.rentals == 1  # the phone stayed in view; the same code is not re-run
        assert stack.unit.last is not None and stack.unit.last.state is RideState.SETTLED
        assert stack.outbox.counts().pending == 0  # flushed on the way out


def test_run_with_a_missing_configuration_is_one_error_line(tmp_path: Path) -> None:
    # (A kiosk configuration runs a kiosk now: tests/test_kiosk_run_cli.py.)
    result = subprocess.run(
        [sys.executable, "-m", "terminal.cli.main", "run", "--config",
         str(tmp_path / "absent.toml")], capture_output=True, text=True, timeout=60,
        check=False)
    assert result.returncode == 1
    assert "file not found" in result.stderr
    assert result.stderr.count("\n") == 1
