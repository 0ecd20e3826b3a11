"""The long-running bike-lock service: scan, rent, settle, upload — until told to stop.

On start it resumes rentals a power loss interrupted, starts the event uploader in the
background, then loops: read the freshest frame, and when a new payment code is confirmed while
the unit is idle, hand it to the unit. Lock callbacks end rides; :meth:`BikeLockUnit.tick`
handles bikes not taken and retries settlements the back end could not take.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.states import RideState
from vision.qr import QrDecoder, QrScanner, ScanEvent

log = logging.getLogger(__name__)


@dataclass
class ServiceStats:
    """What the service did while it ran."""

    codes_seen: int = 0
    rentals: int = 0
    resumed: int = 0


def run_service(stack: BikeLockStack, stop: threading.Event, *, poll_s: float = 0.5,
                same_code_quiet_s: float = 60.0,
                heartbeat: Callable[[], None] | None = None,
                on_scan: Callable[[ScanEvent], None] | None = None) -> ServiceStats:
    """Run the unit until ``stop`` is set; returns counters. The caller owns ``stack``.

    A phone left in front of the camera keeps showing the code just used: the same payload is
    not handed to the unit again within ``same_code_quiet_s`` (a code's life). ``heartbeat()``
    is called on every turn of the loop (at least every ``poll_s``: a systemd watchdog ping);
    ``on_scan(event)`` sees every confirmed code (metrics).
    """
    stats = ServiceStats()
    last_payload, last_at = b"", float("-inf")
    unit = stack.unit
    stats.resumed = len(unit.resume())
    if stack.fleet is not None:
        stack.fleet.start()  # heartbeats, alarms and remote commands (and events, over MQTT)
    stack.uploader.start()
    scan = stack.config.scan
    with QrDecoder(budget_ms=scan.budget_ms) as decoder, QrScanner(
        stack.camera, decoder, confirm_frames=scan.confirm_frames
    ) as scanner:
        while not stop.is_set():
            if heartbeat is not None:
                heartbeat()
            unit.tick()
            if unit.state is RideState.LOCK_CLOSED:
                unit.settle()  # a settlement the back end could not take before
            seen = scanner.next_code(timeout_s=poll_s)
            if seen is None or stop.is_set():
                continue
            stats.codes_seen += 1
            if on_scan is not None:
                on_scan(seen)
            if seen.code.payload == last_payload and seen.timestamp - last_at < same_code_quiet_s:
                continue
            if unit.state is not RideState.IDLE:
                log.info("code ignored: a rental is in progress")
                continue
            last_payload, last_at = seen.code.payload, seen.timestamp
            unit.present_code(seen.code.payload)
            stats.rentals += 1
            stack.uploader.notify()
    stack.uploader.flush(deadline_s=5.0)
    return stats
