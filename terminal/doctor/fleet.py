"""The doctor's fleet-link check: the MQTT password is where it should be, the broker answers.

Only the network path is probed (a TCP connection, and the TLS handshake for ``mqtts``): an MQTT
sign-in with the device's identity would take over the running unit's persistent session.
"""

from __future__ import annotations

import socket
import ssl

from terminal.config.schema import Config
from terminal.doctor.result import CheckResult, failed, passed
from terminal.fleet.errors import FleetError
from terminal.fleet.settings import PASSWORD_ENV, fleet_settings


def check_fleet(config: Config, *, timeout_s: float = 3.0) -> list[CheckResult]:
    """Nothing when no fleet link is configured; else the credentials and the broker's reach."""
    if not config.fleet.mqtt_url:
        return []
    try:
        settings = fleet_settings(config)
    except FleetError as exc:
        return [failed("fleet link", str(exc),
                       "install the device's MQTT password as fleet.device_password_file "
                       f"(owned by the service user, chmod 600) or set {PASSWORD_ENV}")]
    assert settings is not None
    where = f"{settings.host}:{settings.port}"
    try:
        with socket.create_connection((settings.host, settings.port), timeout=timeout_s) as sock:
            if settings.tls:
                context = ssl.create_default_context(cafile=settings.ca_file or None)
                with context.wrap_socket(sock, server_hostname=settings.host):
                    pass
    except ssl.SSLError as exc:
        return [failed("fleet link", f"broker {where}: TLS handshake failed: {exc.reason}",
                       "check fleet.ca_file and the broker's certificate (and the clock)")]
    except OSError as exc:
        return [failed("fleet link", f"broker {where} not reachable: {exc.strerror or exc}",
                       "check fleet.mqtt_url and the network; the unit keeps its events in "
                       "the outbox until the broker is back", needed=False)]
    return [passed("fleet link", f"broker {where} reachable{' (TLS)' if settings.tls else ''}; "
                                 f"password for {settings.device_id} found")]
