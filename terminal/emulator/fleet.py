"""The fleet path on the emulator: a mosquitto of its own and the back end's bridge.

When ``[emulator] mqtt`` is on and Debian's mosquitto is installed, the emulated back end gets a
broker (``backend.fleet.broker``: development passwords, per-device ACLs, a loopback port) and
the bridge that ingests what units publish and sends them commands; the emulated unit then
connects to it like a real one (heartbeats, alarms, events, remote commands). Without mosquitto
(or with ``mqtt = false``) nothing starts, one log line says so, and events go over HTTPS as
before.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from backend.server import BackendServer
from terminal.config.schema import Config
from terminal.fleet.settings import FleetSettings, parse_mqtt_url

log = logging.getLogger(__name__)


class EmulatedFleet:
    """A started broker and bridge for ``device_ids``; :meth:`close` stops both (idempotent)."""

    def __init__(self, server: BackendServer, device_ids: list[str], *, directory: Path,
                 seed_hex: str) -> None:
        from backend.fleet.bridge import Bridge
        from backend.fleet.broker import Broker
        from payments.fleet_messages import BACKEND_USER

        directory.mkdir(parents=True, exist_ok=True)
        self.broker = Broker.for_dev(device_ids, seed_hex=seed_hex, directory=directory)
        self.bridge: Any = None
        self.broker.start()
        try:
            self.bridge = Bridge(server.backend, self.broker.url,
                                 self.broker.password_of(BACKEND_USER)).start()
        except BaseException:
            self.broker.stop()
            raise

    @property
    def url(self) -> str:
        """The broker's ``mqtt://`` URL."""
        return str(self.broker.url)

    def settings_for(self, config: Config) -> FleetSettings:
        """The fleet link of the emulated unit ``config`` describes."""
        host, port, _tls = parse_mqtt_url(self.url)
        section = config.fleet
        return FleetSettings(device_id=config.terminal.id, host=host, port=port,
                             password=self.broker.password_of(config.terminal.id),
                             heartbeat_s=section.heartbeat_s, keepalive_s=section.keepalive_s,
                             reconnect_min_s=1.0, reconnect_max_s=5.0,
                             events_over_mqtt=section.events == "mqtt")

    def close(self) -> None:
        """Stop the bridge, then the broker."""
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            bridge.stop()
        self.broker.stop()


MQTT_MODES = ("auto", "off")


def with_mqtt(config: Config, mode: str) -> Config:
    """``config`` with ``[emulator] mqtt`` on (``auto``: used when mosquitto is installed) or
    as the file says (``off`` leaves it off unless the file turns it on)."""
    import dataclasses

    if mode not in MQTT_MODES:
        raise ValueError(f"mqtt mode must be one of {', '.join(MQTT_MODES)}, got {mode!r}")
    if config.emulator is None or mode == "off":
        return config
    return dataclasses.replace(config, emulator=dataclasses.replace(config.emulator, mqtt=True))


def start_fleet(server: BackendServer, config: Config, *, state_dir: Path,
                seed_hex: str) -> EmulatedFleet | None:
    """Start the broker and bridge when asked for and possible; None (with one log line) when
    ``[emulator] mqtt`` is off, mosquitto is not installed or the bridge is unavailable."""
    section = config.emulator
    if section is None or not section.mqtt:
        return None
    try:
        from backend.fleet.broker import BrokerError, find_mosquitto

        find_mosquitto()
    except ImportError as exc:
        log.warning("emulator: no fleet broker (%s); events go over HTTPS", exc)
        return None
    except BrokerError:
        log.warning("emulator: mosquitto is not installed, so the unit sends its events over "
                    "HTTPS (scripts/setup.sh --dev installs it)")
        return None
    try:
        return EmulatedFleet(server, [config.terminal.id], directory=state_dir / "mqtt",
                             seed_hex=seed_hex)
    except ImportError as exc:
        log.warning("emulator: the back end's fleet bridge is unavailable (%s); events go over "
                    "HTTPS", exc)
        return None
