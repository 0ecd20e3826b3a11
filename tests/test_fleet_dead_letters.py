"""A message the database refuses for good is dead-lettered and no longer stalls the bridge; a
database that does not answer loses nothing. Real mosquitto, the bridge, the back end over HTTP,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.fleet import dead_letters
from backend.fleet.bridge import BATCH_TRIES, Bridge
from backend.fleet.credentials import dev_mqtt_password
from backend.settings import DEV_SIGNING_SEED_HEX, STORE_ENV
from hardware.emulated.clock import ManualClock
from payments import fleet_messages as fm
from payments.events import make_event
from tests.console_support import sign_in
from tests.fleet_support import need_mosquitto
from tests.test_fleet_bridge import FakeUnit, eventually, fleet_stack

START = 1_796_000_000.0
POISON = "poison"
DEVICES = ["bike-0001", "bike-0002", "bike-0003"]


@pytest.fixture()
def fleet(tmp_path: Path) -> Iterator[dict[str, Any]]:
    need_mosquitto()
    clock = ManualClock(START)
    # A database that outlives its store (closed and opened again): a file on SQLite.
    database = os.environ.get(STORE_ENV) or str(tmp_path / "backend.db")
    with fleet_stack(clock, DEVICES, BackendSettings(clock=clock, database=database),
                     retry_s=0.01, retry_cap_s=0.1) as stack:
        yield {**stack, "database": database}


def _refuse_poisoned_alarms(server: BackendServer) -> None:
    """Make the database refuse an alarm whose message is POISON (a CHECK on PostgreSQL, a
    trigger on SQLite, which cannot add a CHECK to a table)."""
    store = server.backend.store
    with store.transaction() as conn:
        if store.dialect == "postgresql":
            conn.execute(f"ALTER TABLE fleet_alarms ADD CONSTRAINT no_poison"
                         f" CHECK (message <> '{POISON}')")
        else:
            conn.execute(f"CREATE TRIGGER no_poison BEFORE INSERT ON fleet_alarms"
                         f" WHEN NEW.message = '{POISON}'"
                         f" BEGIN SELECT RAISE(ABORT, 'poisoned alarm refused'); END")


def _events(unit: FakeUnit, n: int) -> tuple[bytes, list[str]]:
    events = tuple(make_event("terminal.started", terminal_id=unit.device_id, subject_id=None,
                              clock=unit.clock).to_dict() for _ in range(n))
    return (fm.encode(fm.Events(unit.device_id, unit.now(), events)),
            sorted(e["id"] for e in events))


def _stored(server: BackendServer, device_id: str) -> list[str]:
    with server.backend.store.read() as conn:
        return sorted(r["event_id"] for r in conn.execute(
            "SELECT event_id FROM events WHERE terminal_id = ?", (device_id,)).fetchall())


def _alarms(server: BackendServer, device_id: str) -> list[str]:
    with server.backend.store.read() as conn:
        return [r["code"] for r in conn.execute(
            "SELECT code FROM fleet_alarms WHERE device_id = ?", (device_id,)).fetchall()]


def _vehicle(fleet: dict[str, Any], device_id: str) -> dict[str, Any]:
    r = requests.get(f"{fleet['server'].url}/v1/fleet/vehicles/{device_id}",
                     headers=fleet["auth"], timeout=10)
    return r.json() if r.status_code == 200 else {}


def _letters(fleet: dict[str, Any]) -> dict[str, Any]:
    r = requests.get(f"{fleet['server'].url}/v1/fleet/dead-letters", headers=fleet["auth"],
                     timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_poisoned_message_is_dead_lettered_once_and_the_rest_go_on(
        fleet: dict[str, Any]) -> None:
    bridge: Bridge = fleet["bridge"]
    server: BackendServer = fleet["server"]
    one, two = fleet["unit"]("bike-0001"), fleet["unit"]("bike-0002")
    eventually(lambda: bridge.stats.by_kind.get("status", 0) >= 2, "both units online")
    _refuse_poisoned_alarms(server)
    # The bridge is away while the units publish, so the broker hands it everything together
    # when it is back (most likely one batch): the poisoned alarm among good messages.
    bridge.stop()
    poisoned = one.alarm("jammed", POISON)
    payload, ids = _events(one, 3)
    assert one.link is not None
    one.link.publish(fm.up_topic("bike-0001", "events"), payload)
    two.alarm("low_battery", "Battery low.")
    payload_two, ids_two = _events(two, 2)
    assert two.link is not None
    two.link.publish(fm.up_topic("bike-0002", "events"), payload_two)
    two.heartbeat(battery=42)
    bridge.start()
    eventually(lambda: _vehicle(fleet, "bike-0002").get("battery_pct") == 42,
               "the next unit's heartbeat applied")
    eventually(lambda: _stored(server, "bike-0001") == ids, "the good events stored")
    eventually(lambda: _stored(server, "bike-0002") == ids_two, "the next unit's events")
    letters = eventually(lambda: (lambda d: d if d["count"] == 1 else None)(_letters(fleet)),
                         "one dead letter")
    letter = letters["dead_letters"][0]
    assert letter["topic"] == fm.up_topic("bike-0001", "alarm")
    assert letter["device_id"] == "bike-0001"
    assert json.loads(letter["payload"])["message"] == POISON
    assert letter["error"] and len(letter["error"]) <= dead_letters.ERROR_CHARS
    assert bridge.stats.dead_letters == 1 and bridge.stats.batch_retries >= BATCH_TRIES
    assert bridge.stats.database_down == 0
    # The good messages applied exactly once (on PostgreSQL the two units' messages are
    # written on connections of their own: what committed is not applied again).
    assert _alarms(server, "bike-0002") == ["low_battery"]
    assert _alarms(server, "bike-0001") == []
    assert bridge.stats.events_accepted == 5 and bridge.stats.events_duplicates == 0
    recent = _vehicle(fleet, "bike-0002")["recent"]
    assert [r.get("code") for r in recent if r.get("kind") == "alarm"] == ["low_battery"]
    # It was acknowledged: a new bridge session gets no redelivery of it; later messages of
    # the same unit go through at once.
    bridge.stop()
    bridge.start()
    one.heartbeat(battery=55)
    eventually(lambda: _vehicle(fleet, "bike-0001").get("battery_pct") == 55,
               "the unit's later heartbeat applied")
    assert _letters(fleet)["count"] == 1 and bridge.stats.dead_letters == 1
    # The same message delivered again (the unit missed the PUBACK) is recorded once.
    handled = bridge.stats.handled
    one.publish(poisoned)
    assert bridge.wait_handled(handled + 1), "the copy not handled"
    assert _letters(fleet)["count"] == 1 and bridge.stats.dead_letters == 1
    assert bridge.stats.batch_retries >= 2 * BATCH_TRIES


def test_a_database_that_does_not_answer_loses_nothing(fleet: dict[str, Any]) -> None:
    bridge: Bridge = fleet["bridge"]
    server: BackendServer = fleet["server"]
    unit = fleet["unit"]("bike-0003")
    eventually(lambda: bridge.stats.by_kind.get("status", 0) >= 1, "the unit online")
    server.backend.store.close()  # the database is gone
    unit.heartbeat(battery=37)
    payload, ids = _events(unit, 4)
    assert unit.link is not None
    unit.link.publish(fm.up_topic("bike-0003", "events"), payload)
    eventually(lambda: bridge.stats.database_down >= 3, "tries while the database is down")
    # Nothing applied, nothing acknowledged, nothing dead-lettered: the messages wait.
    assert bridge.stats.dead_letters == 0 and bridge.stats.handled == 1
    bridge.stop()  # they stay unacknowledged in the bridge's session at the broker
    # The database back, under a back end started again: its bridge catches up.
    with BackendServer(BackendSettings(clock=fleet["clock"], database=fleet["database"])) \
            as back:
        again = Bridge(back.backend, fleet["broker"].url,
                       dev_mqtt_password(DEV_SIGNING_SEED_HEX, fm.BACKEND_USER), poll_s=0.05,
                       retry_s=0.01, retry_cap_s=0.1).start()
        try:
            eventually(lambda: _stored(back, "bike-0003") == ids, "the events stored")
            view = {"server": back, "auth": {
                "Authorization": f"Bearer {back.api_key_for('operator-0001')}"}}
            eventually(lambda: _vehicle(view, "bike-0003").get("battery_pct") == 37,
                       "the heartbeat applied")
            assert again.stats.dead_letters == 0 and again.stats.events_accepted == 4
            assert again.stats.events_duplicates == 0
            with back.backend.store.read() as conn:
                assert dead_letters.count(conn) == 0
        finally:
            again.stop()


def test_dead_letters_for_operators_and_counted_on_the_console(fleet: dict[str, Any]) -> None:
    server: BackendServer = fleet["server"]
    r = requests.get(f"{server.url}/v1/fleet/dead-letters", timeout=10,
                     headers={"Authorization": f"Bearer {server.api_key_for('bike-0001')}"})
    assert r.status_code == 403
    console = sign_in(server)
    page = console.get(f"{server.url}/console/fleet", timeout=10)
    assert page.status_code == 200 and 'id="dead-letters" data-count="0" hidden' in page.text
    with server.backend.store.transaction() as conn:
        assert dead_letters.record(conn, "not/a/fleet/topic", b"\xff" * 9000, "E: x", START)
        assert not dead_letters.record(conn, "not/a/fleet/topic", b"\xff" * 9000, "E: y",
                                       START)
    letter = _letters(fleet)["dead_letters"][0]
    assert letter["device_id"] is None
    assert len(letter["payload"]) <= dead_letters.PAYLOAD_CHARS + 1
    page = console.get(f"{server.url}/console/fleet", timeout=10)
    assert 'id="dead-letters" data-count="1">' in page.text
    assert "1 unit message(s) refused" in page.text
