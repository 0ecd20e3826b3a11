"""The bridge's batches: a command is published as soon as it is issued, and the telemetry of a
batch folded into one write per vehicle leaves the same state as applying each message alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.fleet.bridge import Bridge
from backend.fleet.broker import Broker
from backend.fleet.credentials import dev_mqtt_password
from backend.settings import DEV_SIGNING_SEED_HEX
from hardware.emulated.clock import ManualClock
from payments import fleet_messages as fm
from tests.fleet_support import need_mosquitto
from tests.test_fleet_bridge import FakeUnit, eventually

START = 1_796_000_000.0


@pytest.fixture()
def slow_poll() -> Iterator[dict[str, Any]]:
    """A bridge that, left alone, would look for commands only every 60 s."""
    need_mosquitto()
    clock = ManualClock(START)
    with Broker.for_dev(["bike-0001"]) as broker, \
            BackendServer(BackendSettings(clock=clock)) as server:
        bridge = Bridge(server.backend, broker.url,
                        dev_mqtt_password(DEV_SIGNING_SEED_HEX, fm.BACKEND_USER), poll_s=60.0)
        bridge.start()
        unit = FakeUnit(broker, "bike-0001", clock).connect()
        try:
            yield {"server": server, "bridge": bridge, "unit": unit,
                   "auth": {"Authorization":
                            f"Bearer {server.api_key_for('operator-0001')}"}}
        finally:
            unit.close()
            bridge.stop()


def test_an_issued_command_wakes_a_waiting_bridge(slow_poll: dict[str, Any]) -> None:
    unit: FakeUnit = slow_poll["unit"]
    bridge: Bridge = slow_poll["bridge"]
    unit.heartbeat()
    assert bridge.wait_handled(2)  # the status and the heartbeat; now it waits for more
    url = slow_poll["server"].url
    r = requests.post(f"{url}/v1/fleet/vehicles/bike-0001/commands", timeout=5,
                      json={"command": "find", "args": {}, "deadline_s": 30},
                      headers={**slow_poll["auth"], "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 202, r.text
    command_id = r.json()["command_id"]
    # Without the wake-up the bridge would publish it only after its 60 s wait.
    status = eventually(lambda: (s := requests.get(
        f"{url}/v1/fleet/commands/{command_id}", headers=slow_poll["auth"], timeout=5).json())
        ["status"] != "sent" and s, "the unit's ack")
    assert status["status"] == "done" and unit.executed == [command_id]
