"""The fleet link on the other devices: the emulator's bike (battery set from the dev panel,
the whole path through mosquitto and the bridge) and the kiosk (heartbeats, events over MQTT,
no lock)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hardware.ports import IndicatorState
from payments.events import make_event
from payments.fleet_messages import BACKEND_USER, down_topic, make_command
from terminal.config import default_config_path, load_config
from terminal.emulator.site import EmulatorSite
from terminal.fleet.settings import FleetSettings
from tests.browser import PageFactory, check_axe, small_touch_targets
from tests.fleet_support import need_mosquitto
from tests.fleet_unit_support import BackendSeat, eventually
from tests.kiosk_support import kiosk_config, kiosk_rig

JSON = {"Accept": "application/json"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[EmulatorSite]:
    need_mosquitto()
    base = load_config(default_config_path("emulator"))
    config = dataclasses.replace(
        base, emulator=dataclasses.replace(base.emulator, mqtt=True),
        lock=dataclasses.replace(base.lock, battery_pct=80.0, lat=31.2304, lon=121.4737))
    with EmulatorSite("bike", config=config, state_dir=tmp_path, clips=[]) as running:
        yield running


def test_the_dev_panel_sets_the_battery_and_the_unit_reports_it_over_the_fleet_link(
        site: EmulatorSite) -> None:
    from backend.fleet import service

    assert site.emulator is not None and site.emulator.fleet is not None
    device = site.device
    assert device.stack.fleet is not None
    eventually(lambda: device.status()["fleet"]["connected"])
    status = device.status()
    assert status["battery"] == 80.0
    assert status["position"] == {"lat": 31.2304, "lon": 121.4737}

    answer = requests.post(f"{site.panel_url}/lock", data={"action": "battery",
                                                           "percent": "9"},
                           headers=JSON, timeout=30)
    assert answer.json() == {"ok": True}
    assert device.status()["battery"] == 9.0
    assert device.indicator.state is IndicatorState.LOW_BATTERY
    state = requests.get(f"{site.panel_url}/api/state", timeout=10).json()
    assert state["lock"]["battery"] == 9.0 and state["lock"]["fleet"] == {"connected": True}
    bad = requests.post(f"{site.panel_url}/lock", data={"action": "battery", "percent": "150"},
                        headers=JSON, timeout=30)
    assert bad.status_code == 400 and "between 0 and 100" in bad.text

    backend = site.emulator.server.backend
    unit = site.config.terminal.id
    device.stack.fleet.reporter.report_now()

    def reported_low() -> bool:
        try:
            vehicle = service.vehicle_detail(backend, unit)
        except Exception:  # not ingested yet
            return False
        return vehicle["battery_pct"] == 9 and any(
            a["code"] == "low_battery" for a in vehicle["alarms"])

    eventually(reported_low, timeout_s=15)


def test_a_kiosk_sends_heartbeats_and_events_over_mqtt_and_refuses_lock_commands(
        tmp_path: Path) -> None:
    need_mosquitto()
    from backend.fleet.broker import Broker

    config = kiosk_config()
    kiosk_id = config.terminal.id
    with Broker.for_dev([kiosk_id], directory=tmp_path / "mqtt") as broker:
        seat = BackendSeat(broker.host, broker.port, broker.password_of(BACKEND_USER))
        fleet = FleetSettings(device_id=kiosk_id, host=broker.host, port=broker.port,
                              password=broker.password_of(kiosk_id))
        try:
            with kiosk_rig(tmp_path, config=config, fleet=fleet) as rig:
                app: Any = rig.app
                assert app.fleet is not None and app.uploader is app.fleet.drain
                seat.seen.wait(lambda: bool(seat.seen.of("heartbeat", kiosk_id)))
                beat = seat.seen.of("heartbeat", kiosk_id)[0]
                assert beat["lock"] == "unknown" and beat["unit_state"]
                assert beat["battery_pct"] is None  # mains powered: no gauge, no made-up charge
                event = make_event("terminal.started", terminal_id=kiosk_id, subject_id=None,
                                   attributes={})
                app.outbox.append(event)
                app.uploader.notify()
                seat.seen.wait(lambda: any(e["id"] == event.id
                                           for b in seat.seen.of("events", kiosk_id)
                                           for e in b["events"]))
                eventually(lambda: app.outbox.counts().pending == 0)
                cmd = make_command(kiosk_id, "unlock", None, now=time.time(), deadline_s=30)
                seat.send(down_topic(kiosk_id), cmd)
                seat.seen.wait(lambda: bool(seat.seen.of("ack", kiosk_id)))
                ack = seat.seen.of("ack", kiosk_id)[0]
                assert (ack["command_id"], ack["status"]) == (cmd.command_id, "refused")
        finally:
            seat.close()


def test_the_battery_is_set_by_clicking_in_the_panel(tmp_path: Path,
                                                      page_factory: PageFactory) -> None:
    base = load_config(default_config_path("emulator"))
    config = dataclasses.replace(base, lock=dataclasses.replace(base.lock, battery_pct=100.0))
    with EmulatorSite("bike", config=config, state_dir=tmp_path, clips=[]) as site:
        panel = page_factory("landscape")  # type: ignore[arg-type]
        panel.goto(site.panel_url)
        assert panel.locator("#battery-state").text_content() == "100.0%"
        panel.get_by_label("Battery charge (%)").fill("12")
        panel.get_by_role("button", name="Set the battery").click()
        panel.locator("#battery-state", has_text="12.0%").wait_for()
        check_axe(panel, "emulate-panel-battery")
        assert small_touch_targets(panel) == []
        assert site.device.indicator.state is IndicatorState.LOW_BATTERY
        panel.close()  # before the panel's server stops (its event stream would retry)
