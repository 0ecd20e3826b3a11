"""The whole fleet path on the emulator: unit → mosquitto → the back end's bridge → fleet state,
and commands back; `scanpay run` with a [fleet] section; the demo without mosquitto.

Real parts only: a mosquitto per test, the reference back end and its bridge, the unit's real
stack on emulated devices. Waits are on conditions with time-outs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardware.emulated.clock import ManualClock
from hardware.emulated.lock import EmulatedLock
from hardware.ports import Position
from payments.fleet_messages import BACKEND_USER
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.states import RideState
from terminal.config import default_config_path, load_config
from terminal.emulator.bike_demo import run_bike_demo
from terminal.emulator.session import Emulator
from tests.fleet_support import need_mosquitto
from tests.fleet_unit_support import BackendSeat, eventually

ROOT = Path(__file__).resolve().parents[1]
BASE = load_config(default_config_path("emulator"))
UNIT = BASE.terminal.id
WITH_MQTT = dataclasses.replace(BASE, emulator=dataclasses.replace(BASE.emulator, mqtt=True))


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    need_mosquitto()
    (tmp_path / "backend").mkdir()
    with Emulator(WITH_MQTT, state_dir=tmp_path / "backend") as emu:
        assert emu.fleet is not None, "mosquitto is installed: the emulator must start it"
        yield emu


def test_the_emulator_runs_heartbeats_events_and_commands_through_the_bridge(
        emulator: Emulator, tmp_path: Path) -> None:
    from backend.fleet import service

    backend = emulator.server.backend
    lock = EmulatedLock(battery=77.0, position=Position(22.5431, 114.0579, 5.0))
    clock = ManualClock(time.time())
    with BikeLockStack(WITH_MQTT, emulator.endpoints(), state_dir=tmp_path / "unit",
                       clock=clock, lock=lock,
                       fleet=emulator.fleet_settings(), fleet_tick_s=0) as stack:
        assert stack.fleet is not None and stack.uploader is stack.fleet.drain
        stack.fleet.start()
        assert stack.fleet.link.wait_connected(10)
        stack.fleet.tick()

        def vehicle() -> dict[str, Any]:
            return service.vehicle_detail(backend, UNIT)

        def reported() -> bool:
            try:
                return vehicle()["battery_pct"] == 77
            except Exception:  # 404 until the first heartbeat is ingested
                return False

        eventually(reported)
        assert vehicle()["online"] is True and vehicle()["state"] == "available"

        stack.unit.present_code(emulator.wallet_code("rider-good"))
        assert stack.unit.state is RideState.RIDING
        clock.advance(600)  # a ten-minute ride: events in time order
        lock.close_latch()
        logged = {p.event.id for p in stack.outbox.pending(100)}
        stack.uploader.notify()
        eventually(lambda: logged <= {e["id"] for e in vehicle()["events"]})
        eventually(lambda: stack.outbox.counts().pending == 0)

        sent = service.send_command(backend, UNIT, "unlock", deadline_s=30, issued_by="test")
        eventually(lambda: service.command_status(backend, sent["command_id"])["status"]
                   == "done")
        assert not lock.is_closed and stack.unit.in_service
        stack.fleet.reporter.report_now()
        stack.fleet.tick()
        eventually(lambda: vehicle()["state"] == "non_operational")  # in service, no ride
        lock.close_latch()
        stack.fleet.reporter.report_now()
        stack.fleet.tick()
        eventually(lambda: vehicle()["state"] == "available")


def test_a_latch_opened_by_hand_is_non_operational_and_no_gauge_is_no_charge(
        emulator: Emulator, tmp_path: Path) -> None:
    from backend.fleet import gbfs, service

    backend = emulator.server.backend
    lock = EmulatedLock(position=Position(22.5431, 114.0579, 5.0))  # no battery gauge
    with BikeLockStack(WITH_MQTT, emulator.endpoints(), state_dir=tmp_path / "unit",
                       clock=ManualClock(time.time()), lock=lock,
                       fleet=emulator.fleet_settings(), fleet_tick_s=0) as stack:
        assert stack.fleet is not None
        stack.fleet.start()
        assert stack.fleet.link.wait_connected(10)

        def vehicle() -> dict[str, Any]:
            try:
                return service.vehicle_detail(backend, UNIT)
            except Exception:  # 404 until the first heartbeat is ingested
                return {}

        def report() -> None:
            assert stack.fleet is not None
            stack.fleet.reporter.report_now()
            stack.fleet.tick()

        def listed() -> dict[str, Any]:
            with backend.store.read() as conn:
                (entry,) = gbfs.vehicle_status(conn, backend.now())["data"]["vehicles"]
            return entry

        report()
        eventually(lambda: vehicle().get("unit_state") == "idle"
                   and vehicle().get("lat") is not None)  # the heartbeat, then its position
        assert vehicle()["state"] == "available" and vehicle()["battery_pct"] is None
        assert "current_fuel_percent" not in listed()
        lock.unlock()  # someone opens the latch by hand: no ride, no command
        assert stack.unit.in_service and stack.unit.state is RideState.IDLE
        report()
        eventually(lambda: vehicle().get("unit_state") == "service")
        assert vehicle()["state"] == "non_operational" and vehicle()["lock"] == "unlocked"
        assert listed()["is_disabled"] is True
        lock.close_latch()
        report()
        eventually(lambda: vehicle().get("state") == "available")
        assert vehicle()["battery_pct"] is None and vehicle()["unit_state"] == "idle"


def test_the_demo_goes_over_mqtt_when_the_emulator_has_a_broker(tmp_path: Path) -> None:
    need_mosquitto()
    lines: list[str] = []
    summary = run_bike_demo(WITH_MQTT, say=lines.append, state_dir=tmp_path)
    assert summary["outcome"] == "completed"
    assert summary["events_uploaded"] == summary["events_logged"] >= 3
    assert any(line.startswith("fleet        unit") for line in lines)
    assert any("uploaded to the score service over MQTT" in line for line in lines)


def test_without_mosquitto_the_demo_uploads_over_https_and_says_so_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from backend.fleet import broker

    def missing() -> str:
        raise broker.BrokerError("mosquitto is not installed")

    monkeypatch.setattr(broker, "find_mosquitto", missing)  # as on a machine without it
    lines: list[str] = []
    with caplog.at_level(logging.WARNING, logger="terminal.emulator.fleet"):
        summary = run_bike_demo(WITH_MQTT, say=lines.append, state_dir=tmp_path)
    assert summary["outcome"] == "completed"
    assert summary["events_uploaded"] == summary["events_logged"] >= 3
    assert not any(line.startswith("fleet ") for line in lines)
    assert any(line.endswith("uploaded to the score service") for line in lines)
    said = [r.getMessage() for r in caplog.records if "mosquitto" in r.getMessage()]
    assert len(said) == 1 and "HTTPS" in said[0]


def test_scanpay_run_with_a_fleet_section_connects_reports_and_says_goodbye(
        tmp_path: Path) -> None:
    need_mosquitto()
    from backend.fleet.broker import Broker

    with Broker.for_dev([UNIT], directory=tmp_path / "mqtt") as broker:
        seat = BackendSeat(broker.host, broker.port, broker.password_of(BACKEND_USER))
        config = tmp_path / "unit.toml"
        config.write_text(default_config_path("emulator").read_text(encoding="utf-8")
                          + f'\n[fleet]\nmqtt_url = "{broker.url}"\nheartbeat_s = 10\n',
                          encoding="utf-8")
        env = dict(os.environ, SCANPAY_MQTT_PASSWORD=broker.password_of(UNIT))
        proc = subprocess.Popen([sys.executable, "-m", "terminal.cli.main", "run", "--config",
                                 str(config)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith(f"fleet link: {broker.url} as {UNIT}; events over MQTT")
            seat.seen.wait(lambda: bool(seat.seen.of("heartbeat", UNIT)), timeout_s=30)
            beat = seat.seen.of("heartbeat", UNIT)[0]
            assert beat["interval_s"] == 10 and beat["lock"] == "locked"
            assert any(s["online"] for s in seat.seen.of("status", UNIT))
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            seat.seen.wait(lambda: not seat.seen.of("status", UNIT)[-1]["online"])
            assert seat.seen.of("status", UNIT)[-1]["reason"] == "shutdown"
            output = proc.stdout.read()
            assert broker.password_of(UNIT) not in first + output  # never printed
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            seat.close()
