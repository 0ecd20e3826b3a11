"""Doctor checks of the machine: clock synchronisation, free disk, the outbox's backlog."""

from __future__ import annotations

import ctypes
import ctypes.util
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import NamedTuple

from terminal.doctor.result import CheckResult, failed, passed

# Payment codes live 60 s: a clock off by more than this cannot judge them.
MAX_SKEW_S = 10.0
# Free disk below either limit fails: the outbox and the rental journal must keep writing.
MIN_FREE_BYTES = 200 * 1024 * 1024
MIN_FREE_SHARE = 0.05
# Events not delivered for this long mean the uploads are not getting through.
MAX_OUTBOX_AGE_S = 3600.0

_TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised


class DiskUsage(NamedTuple):
    """What ``shutil.disk_usage`` returns."""

    total: int
    used: int
    free: int


DiskUsageFn = Callable[[str], DiskUsage]
# True = synchronised, False = not, None = cannot tell on this system.
ClockSyncFn = Callable[[], bool | None]


def kernel_clock_synced() -> bool | None:
    """Whether the kernel says the clock is synchronised (adjtimex), None when unknown."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        buffer = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = libc.adjtimex(buffer)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR


def check_clock_sync(clock_synced: ClockSyncFn = kernel_clock_synced, *, needed: bool = True
                     ) -> CheckResult:
    """The system clock is kept in sync (NTP), which payment codes' 60 s life relies on.

    Not ``needed`` for an emulator, whose back end shares this machine's clock."""
    synced = clock_synced()
    if synced is None:
        return passed("clock sync", "cannot tell on this system (no adjtimex)")
    if not synced:
        return failed("clock sync", "the system clock is not synchronised (payment codes "
                      "expire in 60 s)", "sudo timedatectl set-ntp true; check the network "
                      "reaches an NTP server (timedatectl timesync-status)", needed=needed)
    return passed("clock sync", "the system clock is synchronised")


def check_disk(state_dir: Path, disk_usage: DiskUsageFn) -> CheckResult:
    """Free disk where the outbox and the rental journal are written."""
    path = state_dir
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        usage = disk_usage(str(path))
    except OSError as exc:
        return failed("disk", f"cannot read free space at {path}: {exc}",
                      "check terminal.state_dir")
    free_mb = usage.free / 1024 / 1024
    share = usage.free / usage.total if usage.total else 0.0
    detail = f"{free_mb:.0f} MB free ({share:.0%}) at {state_dir}"
    if usage.free < MIN_FREE_BYTES or share < MIN_FREE_SHARE:
        return failed("disk", detail, "free space on that file system (old logs: sudo "
                      "journalctl --vacuum-size=50M; apt caches: sudo apt clean)")
    return passed("disk", detail)


def check_outbox(state_dir: Path, now: float) -> CheckResult:
    """How many events wait for upload, and how old the oldest is (``now``: unix time)."""
    path = state_dir / "outbox.sqlite3"
    if not path.is_file():
        return passed("outbox", f"no outbox yet at {path}")
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)) as conn:
            depth, oldest = conn.execute(
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'"
            ).fetchone()
    except sqlite3.Error as exc:
        return failed("outbox", f"{path} cannot be read: {exc}",
                      "check the file's owner (the scanpay user) and free disk")
    if not depth:
        return passed("outbox", "0 events waiting for upload")
    age = max(0.0, now - float(oldest))
    detail = f"{depth} event(s) waiting for upload, oldest {_age(age)} old"
    if age > MAX_OUTBOX_AGE_S:
        return failed("outbox", detail, "events are not reaching the score service: see the "
                      "back-end checks above and journalctl -u scanpay-bike", needed=False)
    return passed("outbox", detail)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
