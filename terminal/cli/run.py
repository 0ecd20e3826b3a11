"""`scanpay run --config FILE`: run a bike-lock unit until stopped (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `run` command."""
    parser = sub.add_parser(
        "run", help="run a bike-lock unit or an ordering kiosk until stopped",
        description="Build the terminal a configuration describes and run it until Ctrl-C or "
        "SIGTERM. A bike-lock unit (camera, lock, indicator, back-end clients, outbox, rental "
        "journal) finishes rentals a power loss interrupted, then scans for payment codes. A "
        "kiosk serves its touch screen as a local web page ([kiosk] host and port; open it in "
        "Chromium in kiosk mode) and drives the camera and the payments. With [fleet] "
        "mqtt_url the unit also connects to the operator's MQTT broker (heartbeats, alarms, "
        "events, remote commands; the password from fleet.device_password_file or "
        "SCANPAY_MQTT_PASSWORD). With an [emulator] section the reference back end runs on "
        "loopback.")
    parser.add_argument("--config", metavar="FILE", required=True, help="configuration file")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from terminal.bikelock.service import run_service
    from terminal.bikelock.stack import BikeLockStack
    from terminal.config import load_config
    from terminal.endpoints import Endpoints
    from terminal.errors import ConfigError
    from terminal.fleet.settings import fleet_settings
    from terminal.housekeeping import OutboxPurger
    from terminal.metrics import BikeNoticeMeter, serve_unit_metrics
    from terminal.sdnotify import SystemdNotifier, WatchdogPinger

    config = load_config(args.config)
    if config.terminal.role not in ("bike-lock", "kiosk"):
        raise ConfigError(f"{args.config}: terminal.role: expected bike-lock or kiosk")
    fleet = fleet_settings(config)  # None without [fleet] mqtt_url; bad settings stop here
    if fleet is not None:
        print(f"fleet link: {config.fleet.mqtt_url} as {fleet.device_id}; events over "
              f"{'MQTT' if fleet.events_over_mqtt else 'HTTPS'}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    notifier = SystemdNotifier()  # READY=1 and watchdog pings when systemd runs us
    if config.terminal.role == "kiosk":
        from terminal.kiosk.service import run_kiosk

        paid = run_kiosk(config, stop, say=lambda line: print(line, flush=True),
                         heartbeat=WatchdogPinger(notifier), ready=notifier.ready, fleet=fleet)
        notifier.stopping()
        print(f"stopped: {paid} order(s) paid today", flush=True)
        return 0
    with ExitStack() as stack:
        state_dir = Path(config.terminal.state_dir or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="scanpay-")))
        if config.emulator is not None and config.emulator.enabled:
            from terminal.emulator.session import Emulator

            emulator = stack.enter_context(Emulator(config, state_dir=state_dir))
            endpoints = emulator.endpoints()
            print(f"emulated back end at {emulator.server.url}", flush=True)
            if fleet is None and emulator.fleet is not None:  # [emulator] mqtt
                fleet = emulator.fleet_settings()
                print(f"emulated fleet broker at {emulator.fleet.url}", flush=True)
        else:
            endpoints = Endpoints.from_config(config)
        metrics = stack.enter_context(serve_unit_metrics(
            config, state_dir, say=lambda line: print(line, flush=True)))
        meter = BikeNoticeMeter(metrics) if metrics is not None else None

        def on_notice(notice: Any) -> None:
            print(f"{notice.state.value:<15} {notice.text}", flush=True)
            if meter is not None:
                meter(notice)

        unit = stack.enter_context(BikeLockStack(config, endpoints, state_dir=state_dir,
                                                 on_notice=on_notice, fleet=fleet))
        print(f"terminal {config.terminal.id} ready; waiting for payment codes", flush=True)
        notifier.ready("waiting for payment codes")
        ping, purge = WatchdogPinger(notifier), OutboxPurger(unit.outbox)

        def heartbeat() -> None:
            ping()
            purge()

        stats = run_service(unit, stop, heartbeat=heartbeat,
                            on_scan=None if metrics is None else
                            lambda seen: metrics.code_decoded(seen.decode_ms / 1000))
        notifier.stopping()
    print(f"stopped: {stats.rentals} rental(s), {stats.resumed} resumed", flush=True)
    return 0
