"""Run every doctor check a configuration calls for, with injectable clocks and probes."""

from __future__ import annotations

import ctypes.util
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from terminal.config.schema import Config
from terminal.doctor.backend import check_backend
from terminal.doctor.devices import (
    CameraOpener,
    LockOpener,
    check_camera,
    check_lock,
    check_zbar,
    open_configured_camera,
    open_configured_lock,
)
from terminal.doctor.fleet import check_fleet
from terminal.doctor.models import check_models
from terminal.doctor.result import CheckResult, Report
from terminal.doctor.system import (
    ClockSyncFn,
    DiskUsage,
    DiskUsageFn,
    check_clock_sync,
    check_disk,
    check_outbox,
    kernel_clock_synced,
)


def _disk_usage(path: str) -> DiskUsage:
    return DiskUsage(*shutil.disk_usage(path))


@dataclass(frozen=True)
class Probes:
    """Where the doctor looks: each can be replaced in tests to inject a fault."""

    wall_clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    disk_usage: DiskUsageFn = _disk_usage
    clock_synced: ClockSyncFn = kernel_clock_synced
    open_camera: CameraOpener = open_configured_camera
    open_lock: LockOpener = open_configured_lock
    find_library: Callable[[str], str | None] = ctypes.util.find_library
    camera_probe_s: float = 1.0


def run_checks(config: Config, probes: Probes | None = None,
               on_result: Callable[[CheckResult], None] | None = None) -> Report:
    """Every check for ``config`` in order; ``on_result`` sees each as soon as it is done."""
    p = probes or Probes()
    state_dir = Path(config.terminal.state_dir or tempfile.gettempdir())
    results: list[CheckResult] = []

    def add(*found: CheckResult) -> None:
        for result in found:
            results.append(result)
            if on_result is not None:
                on_result(result)

    add(check_camera(config, p.open_camera, probe_s=p.camera_probe_s, monotonic=p.monotonic))
    if config.terminal.role == "bike-lock":
        add(*check_lock(config, p.open_lock))
    add(check_zbar(p.find_library))
    add(*check_models(config))
    emulated = config.emulator is not None and config.emulator.enabled
    add(check_clock_sync(p.clock_synced, needed=not emulated))
    add(*check_backend(config, p.wall_clock))
    add(*check_fleet(config))
    add(check_disk(state_dir, p.disk_usage))
    add(check_outbox(state_dir, p.wall_clock()))
    return Report(tuple(results))
