"""Run the reference back end for an emulated terminal and hand out its endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from backend.roles import parse_role
from backend.server import BackendServer
from backend.settings import BackendSettings
from payments.clients.http import ServiceSettings
from terminal.config.schema import Config
from terminal.endpoints import Endpoints
from terminal.errors import TerminalError
from terminal.fleet.settings import FleetSettings


class EmulatorError(TerminalError):
    """The emulated back end could not be started or asked."""


class Emulator:
    """The reference back end on loopback, configured from ``config.emulator``."""

    def __init__(self, config: Config, *, state_dir: Path) -> None:
        section = config.emulator
        if section is None or not section.enabled:
            raise EmulatorError("this configuration has no enabled [emulator] section")
        self._config = config
        database = section.database or str(state_dir / "backend.sqlite3")
        # Dev mode: keys from the development seed, dev routes on, loopback only (the server
        # refuses any other address).
        settings = BackendSettings(database=database, signing_seed_hex=section.signing_seed_hex,
                                   terminals=(config.terminal.id,), dev=True)
        self._role = parse_role(config.terminal.role)
        self._state_dir = state_dir
        self.server = BackendServer(settings, host=section.host, port=section.port)
        self.fleet: Any = None  # terminal.emulator.fleet.EmulatedFleet when [emulator] mqtt
        # database = "postgresql": a private PostgreSQL server for this session.
        self._postgres: Any = None

    def start(self) -> Emulator:
        """Start serving (and, with ``[emulator] mqtt``, the broker and bridge); returns self."""
        from terminal.emulator.fleet import start_fleet

        if self.server.settings.database == "postgresql" and self._postgres is None:
            self._start_postgres()
        try:
            self.server.start()
        except BaseException:
            self._stop_postgres()
            raise
        try:
            self.fleet = start_fleet(self.server, self._config, state_dir=self._state_dir,
                                     seed_hex=self._config.emulator.signing_seed_hex
                                     if self._config.emulator else "")
        except BaseException:
            self.server.close()
            self._stop_postgres()
            raise
        return self

    def _start_postgres(self) -> None:
        from dataclasses import replace

        from backend.errors import BackendError
        from backend.localpg import LocalPostgres

        try:
            self._postgres = LocalPostgres(durable=False).start()
        except BackendError as exc:
            raise EmulatorError(f"[emulator] database = \"postgresql\": {exc}") from None
        self.server.settings = replace(self.server.settings, database=self._postgres.url())

    def _stop_postgres(self) -> None:
        postgres, self._postgres = self._postgres, None
        if postgres is not None:
            postgres.stop()

    def fleet_settings(self) -> FleetSettings | None:
        """The unit's fleet link to the emulated broker, or None when there is none."""
        return None if self.fleet is None else self.fleet.settings_for(self._config)

    @property
    def api_key(self) -> str:
        """This terminal's API key on the emulated back end."""
        return self.server.api_key_for(self._config.terminal.id, self._role)

    def endpoints(self) -> Endpoints:
        """Client settings that point at the emulated back end."""
        return Endpoints(
            score=_settings(self._config.score_service, self.server.url, self.api_key),
            gateway=_settings(self._config.gateway, self.server.url, self.api_key),
        )

    def wallet_code(self, subject_id: str, *, ttl_s: int = 60) -> str:
        """A fresh payment code for ``subject_id``, as the rider's wallet app would show it."""
        body = self._post("/v1/dev/payment-codes", {"subject_id": subject_id, "ttl_s": ttl_s})
        return str(body["code"])

    def subjects(self) -> list[dict[str, Any]]:
        """The seeded subjects with their standing."""
        response = requests.get(f"{self.server.url}/v1/dev/subjects", timeout=5,
                                headers={"Authorization": f"Bearer {self.api_key}"})
        response.raise_for_status()
        return list(response.json()["subjects"])

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.post(f"{self.server.url}{path}", json=body, timeout=5,
                                 headers={"Authorization": f"Bearer {self.api_key}"})
        if response.status_code >= 300:
            raise EmulatorError(f"emulator {path} answered {response.status_code}: "
                                f"{response.text[:200]}")
        return dict(response.json())

    def close(self) -> None:
        """Stop the bridge, the broker and the back end; safe to call twice."""
        fleet, self.fleet = self.fleet, None
        if fleet is not None:
            fleet.close()
        self.server.close()
        self._stop_postgres()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _settings(section: Any, url: str, api_key: str) -> ServiceSettings:
    base = ServiceSettings.from_section(section, url=url)
    return ServiceSettings(url=base.url, api_key=api_key,
                           connect_timeout_s=base.connect_timeout_s,
                           read_timeout_s=base.read_timeout_s, max_retries=base.max_retries,
                           backoff_base_s=base.backoff_base_s, backoff_max_s=base.backoff_max_s,
                           deadline_s=base.deadline_s)
