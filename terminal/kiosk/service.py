"""`scanpay run` for a kiosk: serve the screen until told to stop, then flush the events."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from terminal.config.schema import Config
from terminal.fleet.settings import FleetSettings

log = logging.getLogger(__name__)


def run_kiosk(config: Config, stop: threading.Event, *,
              say: Callable[[str], None] = lambda line: None,
              heartbeat: Callable[[], None] | None = None,
              ready: Callable[[str], object] | None = None,
              heartbeat_s: float = 1.0, fleet: FleetSettings | None = None) -> int:
    """Run the kiosk ``config`` describes until ``stop`` is set; returns orders paid.

    ``ready(status)`` is called once the screen is served (systemd READY=1); ``heartbeat()``
    every ``heartbeat_s`` while it runs (the systemd watchdog). ``fleet``: the kiosk's MQTT
    link (heartbeats, and its events instead of the HTTPS uploader when events go over MQTT;
    a kiosk has no lock, so lock commands are refused)."""
    from terminal.endpoints import Endpoints
    from terminal.housekeeping import OutboxPurger
    from terminal.kiosk.app import KioskApp
    from terminal.metrics import serve_unit_metrics

    with ExitStack() as stack:
        state_dir = Path(config.terminal.state_dir or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="scanpay-kiosk-")))
        state_dir.mkdir(parents=True, exist_ok=True)  # first run: the back end's file lives here
        if config.emulator is not None and config.emulator.enabled:
            from terminal.emulator.session import Emulator

            emulator = stack.enter_context(Emulator(config, state_dir=state_dir))
            endpoints = emulator.endpoints()
            say(f"emulated back end at {emulator.server.url}")
            if fleet is None and emulator.fleet is not None:  # [emulator] mqtt
                fleet = emulator.fleet_settings()
                say(f"emulated fleet broker at {emulator.fleet.url}")
        else:
            endpoints = Endpoints.from_config(config)
        metrics = stack.enter_context(serve_unit_metrics(config, state_dir, say=say))
        kiosk = stack.enter_context(KioskApp(config, endpoints, state_dir=state_dir,
                                             metrics=metrics, fleet=fleet))
        say(f"kiosk {config.terminal.id} ready: open {kiosk.url}/ in the kiosk browser")
        if kiosk.settings.staff_pin:
            say(f"staff screen: {kiosk.url}/staff")
        if ready is not None:
            ready(f"serving {kiosk.url}/")
        purge = OutboxPurger(kiosk.outbox)
        while not stop.wait(heartbeat_s):
            if heartbeat is not None:
                heartbeat()
            purge()
        paid = sum(1 for order in kiosk.orders.today() if order.status == "paid")
        kiosk.uploader.flush(deadline_s=5.0)
    return paid
