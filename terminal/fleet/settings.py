"""What the unit's fleet link needs: broker address, per-device credentials, timers.

The password comes from ``[fleet] device_password_file`` or, when that is empty, from the
``SCANPAY_MQTT_PASSWORD`` environment variable. It is never logged and never part of a repr.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from payments.fleet_messages import FleetMessageError, check_device_id
from terminal.config.schema import Config, FleetSection
from terminal.fleet.errors import FleetError

PASSWORD_ENV = "SCANPAY_MQTT_PASSWORD"
_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class FleetSettings:
    """A unit's fleet link: who it is, where the broker is, and how often it reports."""

    device_id: str
    host: str
    port: int
    password: str = field(repr=False)
    tls: bool = False
    ca_file: str = ""
    heartbeat_s: int = 60
    keepalive_s: int = 60
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 120.0
    events_over_mqtt: bool = True

    def __post_init__(self) -> None:
        try:
            check_device_id(self.device_id)
        except FleetMessageError as exc:
            raise FleetError(f"fleet: {exc}") from None
        if not self.host or not 0 < self.port < 65536:
            raise FleetError(f"fleet: broker address {self.host!r}:{self.port} is not usable")
        if not self.password:
            raise FleetError(f"fleet: device {self.device_id} has no MQTT password")


def parse_mqtt_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, tls)`` of ``mqtt://host[:port]`` or ``mqtts://host[:port]``."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise FleetError(f"fleet.mqtt_url: expected mqtt://host[:port] or mqtts://host[:port], "
                         f"got {url!r}")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query:
        raise FleetError("fleet.mqtt_url: give only the scheme, host and port (the password "
                         "goes in fleet.device_password_file or " + PASSWORD_ENV + ")")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise FleetError(f"fleet.mqtt_url: bad port in {url!r}") from None
    return parts.hostname, port, parts.scheme == "mqtts"


def read_password(section: FleetSection, env: Mapping[str, str] | None = None) -> str:
    """The device's MQTT password from its file or the environment; FleetError when absent."""
    if section.device_password_file:
        path = Path(section.device_password_file)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise FleetError(f"fleet.device_password_file: cannot read {path}: "
                             f"{exc.strerror or exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise FleetError(f"fleet.device_password_file: {path} is readable by others; "
                             f"chmod 600 it")
        if not text:
            raise FleetError(f"fleet.device_password_file: {path} is empty")
        return text
    value = (os.environ if env is None else env).get(PASSWORD_ENV, "").strip()
    if not value:
        raise FleetError(f"fleet: set fleet.device_password_file or {PASSWORD_ENV} (the "
                         f"device's MQTT password)")
    return value


def fleet_settings(config: Config, env: Mapping[str, str] | None = None) -> FleetSettings | None:
    """The fleet link ``config`` asks for, or None when ``[fleet] mqtt_url`` is empty."""
    section = config.fleet
    if not section.mqtt_url:
        return None
    host, port, tls = parse_mqtt_url(section.mqtt_url)
    return FleetSettings(
        device_id=config.terminal.id, host=host, port=port, tls=tls,
        password=read_password(section, env), ca_file=section.ca_file,
        heartbeat_s=section.heartbeat_s, keepalive_s=section.keepalive_s,
        reconnect_min_s=section.reconnect_min_s, reconnect_max_s=section.reconnect_max_s,
        events_over_mqtt=section.events == "mqtt")
