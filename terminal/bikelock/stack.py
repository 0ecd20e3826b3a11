"""Build a whole bike-lock unit from configuration: devices, clients, outbox, journal, and
its fleet link when ``[fleet]`` names a broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from hardware.ports import Camera, Indicator, Lock
from payments.clients.gateway import GatewayClient
from payments.clients.score import ScoreClient
from payments.outbox import Outbox
from payments.uploader import Uploader
from terminal.bikelock.journal import RentalJournal
from terminal.bikelock.unit import BikeLockUnit, Notice, UnitSettings
from terminal.config.schema import Config
from terminal.devices import open_camera, open_indicator, open_lock
from terminal.endpoints import Endpoints
from terminal.fleet.agent import FleetAgent
from terminal.fleet.control import BikeControl
from terminal.fleet.drain import EventDrain
from terminal.fleet.settings import FleetSettings


class BikeLockStack:
    """Owns every part of one unit; closing it closes them all (idempotent)."""

    def __init__(
        self,
        config: Config,
        endpoints: Endpoints,
        *,
        state_dir: Path,
        clock: Callable[[], float] = time.time,
        camera: Camera | None = None,
        lock: Lock | None = None,
        indicator: Indicator | None = None,
        on_notice: Callable[[Notice], None] | None = None,
        fleet: FleetSettings | None = None,
        fleet_clock: Callable[[], float] = time.monotonic,
        fleet_tick_s: float = 1.0,
    ) -> None:
        """``fleet``: the unit's MQTT link (heartbeats, alarms, remote commands; with
        ``events_over_mqtt`` the outbox drains over it instead of the HTTP uploader). It starts
        with :func:`terminal.bikelock.service.run_service` (or ``stack.fleet.start()``)."""
        self.config = config
        self.fleet: FleetAgent | None = None
        self._stack = ExitStack()
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            self.camera = camera or open_camera(config.camera, clock=time.monotonic)
            self._stack.callback(self.camera.close)
            self.lock = lock or open_lock(config.lock, clock=time.monotonic)
            self._stack.callback(self.lock.close)
            self.indicator = indicator or open_indicator(config.indicator, clock=time.monotonic)
            self._stack.callback(self.indicator.close)
            self.score = self._stack.enter_context(ScoreClient(endpoints.score))
            self.gateway = self._stack.enter_context(GatewayClient(endpoints.gateway))
            self.outbox = self._stack.enter_context(Outbox(state_dir / "outbox.sqlite3"))
            self.journal = self._stack.enter_context(RentalJournal(state_dir / "rentals.sqlite3"))
            out = config.outbox
            self.uploader: Uploader | EventDrain
            if fleet is None or not fleet.events_over_mqtt:
                # The uploader runs in its own thread: it gets its own client (and session).
                uploads = self._stack.enter_context(ScoreClient(endpoints.score))
                self.uploader = Uploader(self.outbox, uploads, batch_size=out.batch_size,
                                         backoff_base_s=out.backoff_base_s,
                                         backoff_max_s=out.backoff_max_s)
                self._stack.callback(self.uploader.stop)
            settings = UnitSettings(config.terminal.id, config.deposit, config.fare,
                                    config.ride.unlock_window_s,
                                    config.ride.on_time_limit_h * 3600,
                                    low_battery_pct=config.lock.low_battery_pct)
            self.unit = BikeLockUnit(settings, lock=self.lock, gateway=self.gateway,
                                     score=self.score, outbox=self.outbox, journal=self.journal,
                                     clock=clock, indicator=self.indicator, on_notice=on_notice)
            self._stack.callback(self.unit.close)
            if fleet is not None:
                control = BikeControl(self.unit, ride_limit_s=settings.on_time_limit_s,
                                      clock=clock)
                self.fleet = FleetAgent(fleet, control, state_dir=state_dir,
                                        outbox=self.outbox, clock=fleet_clock, wall=time.time,
                                        tick_s=fleet_tick_s,
                                        low_battery_pct=config.lock.low_battery_pct)
                self._stack.callback(self.fleet.close)
                for watch in (self.lock.on_opened, self.lock.on_closed):  # report at once
                    self._stack.callback(watch(self.fleet.reporter.report_now))
                if self.fleet.drain is not None:
                    self.uploader = self.fleet.drain
        except BaseException:
            self._stack.close()
            raise

    def close(self) -> None:
        """Close every part; safe to call twice."""
        self._stack.close()

    def __enter__(self) -> BikeLockStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
