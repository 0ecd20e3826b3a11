"""The fleet end to end: real mosquitto, the bridge, the back end over HTTP, and a fake unit
(real paho client) that follows the fleet contract."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.fleet import commands
from backend.fleet.bridge import Bridge, BridgeError, parse_mqtt_url
from backend.fleet.broker import Broker
from backend.fleet.credentials import dev_mqtt_password
from backend.settings import DEV_SIGNING_SEED_HEX
from hardware.emulated.clock import ManualClock
from payments import fleet_messages as fm
from payments.event_chain import chain_hash
from payments.events import make_event
from tests.fleet_support import LinkClient, connect, need_mosquitto

START = 1_796_000_000.0
WAIT_S = 10.0


class FakeUnit:
    """A lock unit on MQTT as the contract says: status, heartbeats, events, and commands with
    idempotent ids and deadlines (its clock is the test's)."""

    def __init__(self, broker: Broker, device_id: str, clock: ManualClock) -> None:
        self.broker = broker
        self.device_id = device_id
        self.clock = clock
        self.seq = 0
        self.lock = "locked"
        self.executed: list[str] = []
        self.acks: dict[str, fm.Ack] = {}
        self.answered = threading.Event()
        self.link: LinkClient | None = None

    def connect(self) -> FakeUnit:
        will = fm.encode(fm.Status(self.device_id, False, reason="connection_lost"))
        self.link = connect(self.broker.url, self.device_id,
                            self.broker.password_of(self.device_id),
                            will=(fm.up_topic(self.device_id, "status"), will),
                            on_message=self._on_command)
        self.link.client.subscribe(fm.down_topic(self.device_id), 1)
        self.publish(fm.Status(self.device_id, True, self.now()), retain=True)
        return self

    def now(self) -> str:
        return fm.format_time(self.clock())

    def publish(self, msg: fm.Message, *, retain: bool = False) -> None:
        assert self.link is not None
        self.link.publish(fm.up_topic(self.device_id, msg.kind), fm.encode(msg), retain=retain)

    def heartbeat(self, battery: int = 80, interval: int = 60) -> None:
        self.seq += 1
        self.publish(fm.Heartbeat(self.device_id, self.now(), self.lock, "idle", battery, 3900,
                                  -70, interval, self.seq))

    def alarm(self, code: str, message: str = "Something is wrong.") -> fm.Alarm:
        self.seq += 1
        msg = fm.Alarm(self.device_id, self.now(), code, message, self.seq)
        self.publish(msg)
        return msg

    def position(self, lat: float = 31.23, lon: float = 121.47) -> None:
        self.seq += 1
        self.publish(fm.Position(self.device_id, self.now(), lat, lon, 4.0, self.seq))

    def _on_command(self, client: Any, _u: object, raw: Any) -> None:
        cmd = fm.decode("command", raw.payload)
        assert isinstance(cmd, fm.Command) and cmd.device_id == self.device_id
        if cmd.command_id in self.acks:  # seen before: never again, re-send the first answer
            ack = self.acks[cmd.command_id]
        else:
            if cmd.expired(self.clock()):
                status, detail = "expired", "The command arrived after its deadline."
            else:
                self.executed.append(cmd.command_id)
                status, detail = "done", f"{cmd.command} done"
                if cmd.command == "unlock":
                    self.lock = "unlocked"
                elif cmd.command == "lock":
                    self.lock = "locked"
            ack = fm.Ack(self.device_id, self.now(), cmd.command_id, status, detail, self.lock)
            self.acks[cmd.command_id] = ack
        client.publish(fm.up_topic(self.device_id, "ack"), fm.encode(ack), qos=1)
        self.answered.set()

    def close(self) -> None:
        if self.link is not None:
            self.link.close()


@contextlib.contextmanager
def fleet_stack(clock: ManualClock, devices: list[str], settings: BackendSettings,
                **bridge_options: float) -> Iterator[dict[str, Any]]:
    """A broker for ``devices``, a back end on ``settings`` and its bridge (``bridge_options``:
    its poll and retry periods), with ``unit(device_id)`` connecting fake units closed at the
    end and an operator's ``auth`` header."""
    with Broker.for_dev(devices) as broker, BackendServer(settings) as server:
        bridge = Bridge(server.backend, broker.url,
                        dev_mqtt_password(DEV_SIGNING_SEED_HEX, fm.BACKEND_USER),
                        **{"poll_s": 0.05, **bridge_options})
        bridge.start()
        units: list[FakeUnit] = []

        def unit(device_id: str = "bike-0001") -> FakeUnit:
            u = FakeUnit(broker, device_id, clock).connect()
            units.append(u)
            return u

        try:
            yield {"clock": clock, "broker": broker, "server": server, "bridge": bridge,
                   "unit": unit,
                   "auth": {"Authorization":
                            f"Bearer {server.api_key_for('operator-0001')}"}}
        finally:
            for u in units:
                u.close()
            bridge.stop()


@pytest.fixture()
def fleet() -> Iterator[dict[str, Any]]:
    need_mosquitto()
    clock = ManualClock(START)
    with fleet_stack(clock, ["bike-0001", "bike-0002", "kiosk-0001"],
                     BackendSettings(clock=clock)) as stack:
        yield stack


def eventually(check: Callable[[], Any], what: str) -> Any:
    """Poll ``check`` until it returns something truthy (a bounded wait, no fixed sleeps)."""
    done = threading.Event()
    deadline = WAIT_S
    while deadline > 0:
        result = check()
        if result:
            return result
        done.wait(0.02)
        deadline -= 0.02
    pytest.fail(f"timed out waiting for {what}")


def get(fleet: dict[str, Any], path: str) -> requests.Response:
    return requests.get(f"{fleet['server'].url}{path}", headers=fleet["auth"], timeout=5)


def vehicle(fleet: dict[str, Any], device_id: str = "bike-0001") -> dict[str, Any]:
    r = get(fleet, f"/v1/fleet/vehicles/{device_id}")
    return r.json() if r.status_code == 200 else {}


def send(fleet: dict[str, Any], command: str, *, device_id: str = "bike-0001",
         args: dict[str, Any] | None = None, deadline_s: float = 30,
         key: str | None = None) -> requests.Response:
    return requests.post(
        f"{fleet['server'].url}/v1/fleet/vehicles/{device_id}/commands",
        json={"command": command, "args": args or {}, "deadline_s": deadline_s}, timeout=5,
        headers={**fleet["auth"], "Idempotency-Key": key or uuid.uuid4().hex})


def test_heartbeat_shows_in_the_vehicle_list(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.heartbeat(battery=64)
    unit.position()
    v = eventually(lambda: vehicle(fleet).get("battery_pct") == 64
                   and vehicle(fleet).get("lat") is not None and vehicle(fleet), "heartbeat")
    assert v["state"] == "available" and v["online"] is True and v["lock"] == "locked"
    assert v["signal_dbm"] == -70 and v["last_seen"] == fm.format_time(START)
    listing = get(fleet, "/v1/fleet/vehicles").json()["vehicles"]
    assert [x["device_id"] for x in listing] == ["bike-0001"]
    assert get(fleet, "/v1/fleet/vehicles?state=on_trip").json()["vehicles"] == []
    assert get(fleet, "/v1/fleet/vehicles?state=bogus").status_code == 400
    assert get(fleet, "/v1/fleet/vehicles/bike-9999").status_code == 404
    # Operators only.
    bike_key = fleet["server"].api_key_for("bike-0001")
    r = requests.get(f"{fleet['server'].url}/v1/fleet/vehicles", timeout=5,
                     headers={"Authorization": f"Bearer {bike_key}"})
    assert r.status_code == 403


def test_the_last_20_heartbeats_are_kept_newest_first_and_no_more(
        fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    for i in range(25):
        unit.heartbeat(battery=100 - i)
        fleet["clock"].advance(60)
    eventually(lambda: vehicle(fleet).get("battery_pct") == 76, "25 heartbeats")
    beats = vehicle(fleet)["heartbeats"]
    assert [b["battery_pct"] for b in beats] == list(range(76, 96))
    assert [b["seq"] for b in beats] == list(range(25, 5, -1))
    assert beats[0] == {"seq": 25, "at": fm.format_time(START + 24 * 60), "lock": "locked",
                        "unit_state": "idle", "battery_pct": 76, "battery_mv": 3900,
                        "signal_dbm": -70}
    # A late heartbeat whose slot holds a newer one replaces nothing; one delivered twice
    # takes its own slot again.
    late = fm.Heartbeat("bike-0001", fm.format_time(START + 4 * 60), "locked", "idle", 50, 3900,
                        -70, 60, 5)
    unit.publish(late)
    newest = fm.Heartbeat("bike-0001", unit.now(), "unlocked", "riding", 75, None, None, 60, 26)
    unit.publish(newest)
    unit.publish(newest)
    eventually(lambda: vehicle(fleet).get("battery_pct") == 75, "the newest heartbeat")
    beats = vehicle(fleet)["heartbeats"]
    assert [b["seq"] for b in beats] == list(range(26, 6, -1))
    assert beats[0]["battery_mv"] is None and 50 not in [b["battery_pct"] for b in beats]
    with fleet["server"].backend.store.read() as conn:
        rows = conn.execute("SELECT COUNT(*) AS n FROM fleet_heartbeats WHERE device_id = ?",
                            ("bike-0001",)).fetchone()
    assert int(rows["n"]) == 20


def _events_payload(device_id: str, n: int, clock: ManualClock) -> bytes:
    events = tuple(make_event("terminal.started", terminal_id=device_id, subject_id=None,
                              clock=clock).to_dict() for _ in range(n))
    return fm.encode(fm.Events(device_id, fm.format_time(clock()), events))


def _stored(fleet: dict[str, Any], device_id: str) -> list[str]:
    with fleet["server"].backend.store.read() as conn:
        return [r["event_id"] for r in conn.execute(
            "SELECT event_id FROM events WHERE terminal_id = ?", (device_id,)).fetchall()]


def test_events_stored_exactly_once_after_redelivery(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    bridge: Bridge = fleet["bridge"]
    payload = _events_payload("bike-0001", 3, fleet["clock"])
    assert unit.link is not None
    unit.link.publish(fm.up_topic("bike-0001", "events"), payload)
    eventually(lambda: len(_stored(fleet, "bike-0001")) == 3, "3 events stored")
    # The unit missed the PUBACK and sends the same message again; the bridge restarts too,
    # and the broker redelivers to its persistent session what arrived meanwhile.
    bridge.stop()
    unit.link.publish(fm.up_topic("bike-0001", "events"), payload)
    unit.link.publish(fm.up_topic("bike-0001", "events"), payload)
    bridge.start()
    eventually(lambda: bridge.stats.events_duplicates == 6, "duplicates counted")
    assert sorted(_stored(fleet, "bike-0001")) == sorted(
        e["id"] for e in json.loads(payload)["events"])
    assert bridge.stats.events_accepted == 3 and bridge.stats.events_rejected == 0


def test_malformed_and_forbidden_events(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    bridge: Bridge = fleet["bridge"]
    assert unit.link is not None
    unit.link.publish(fm.up_topic("bike-0001", "heartbeat"), b'{"v": 1}')
    # A bike lock may not send a kiosk's event: refused as over HTTP.
    event = make_event("order.paid", terminal_id="bike-0001", subject_id=None,
                       clock=fleet["clock"]).to_dict()
    unit.link.publish(fm.up_topic("bike-0001", "events"),
                      fm.encode(fm.Events("bike-0001", unit.now(), (event,))))
    eventually(lambda: bridge.stats.events_rejected == 1 and bridge.stats.malformed == 1,
               "refusals counted")
    assert _stored(fleet, "bike-0001") == []


def test_last_will_marks_offline_then_unknown(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.heartbeat(interval=60)
    eventually(lambda: vehicle(fleet).get("state") == "available", "available")
    assert unit.link is not None
    unit.link.drop()  # no DISCONNECT: the broker sends the last will
    eventually(lambda: vehicle(fleet).get("online") is False, "offline from the last will")
    assert vehicle(fleet)["state"] == "available"  # not yet 3 intervals
    fleet["clock"].advance(181)
    assert vehicle(fleet)["state"] == "unknown"
    assert get(fleet, "/v1/fleet/vehicles?state=unknown").json()["vehicles"][0][
        "device_id"] == "bike-0001"


def test_command_acknowledged_and_done(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.heartbeat()
    eventually(lambda: vehicle(fleet).get("online"), "vehicle known")
    r = send(fleet, "unlock")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "sent" and fm.valid_command_id(body["command_id"])
    status = eventually(lambda: (s := get(fleet, f"/v1/fleet/commands/{body['command_id']}")
                                 .json())["status"] != "sent" and s, "the ack")
    assert status["status"] == "done" and status["lock"] == "unlocked"
    assert unit.executed == [body["command_id"]]
    # A service unlock: no fare, out of operation until locked.
    assert vehicle(fleet)["state"] == "non_operational"
    r2 = send(fleet, "lock")
    eventually(lambda: get(fleet, f"/v1/fleet/commands/{r2.json()['command_id']}")
               .json()["status"] == "done", "lock done")
    assert vehicle(fleet)["state"] == "available"
    detail = vehicle(fleet)
    assert [c["command"] for c in detail["commands"]] == ["lock", "unlock"]
    assert any(x["kind"] == "ack" for x in detail["recent"])


def test_command_validation_and_idempotency_key(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.heartbeat()
    eventually(lambda: vehicle(fleet).get("online"), "vehicle known")
    assert send(fleet, "explode").status_code == 400
    assert send(fleet, "set_interval", args={"heartbeat_s": 5}).json()["error"][
        "code"] == "invalid_command"
    assert send(fleet, "find", deadline_s=0).status_code == 400
    assert send(fleet, "find", device_id="bike-9999").status_code == 404
    assert get(fleet, "/v1/fleet/commands/cmd_" + "0" * 32).status_code == 404
    first = send(fleet, "set_interval", args={"heartbeat_s": 30}, key="k-1")
    again = send(fleet, "set_interval", args={"heartbeat_s": 30}, key="k-1")
    assert first.json()["command_id"] == again.json()["command_id"]
    eventually(lambda: vehicle(fleet).get("interval_s") == 30, "interval applied")
    assert len(unit.executed) == 1


def clear(fleet: dict[str, Any], code: str, *, device_id: str = "bike-0001",
          key: str | None = None, auth: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        f"{fleet['server'].url}/v1/fleet/vehicles/{device_id}/alarms/{code}/clear", timeout=5,
        headers={**(auth or fleet["auth"]), "Idempotency-Key": key or uuid.uuid4().hex})


def _open_codes(fleet: dict[str, Any]) -> list[str]:
    return [a["code"] for a in vehicle(fleet).get("alarms", [])]


def test_an_operator_clears_an_alarm_and_one_raised_again_opens_anew(
        fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.heartbeat()
    first = unit.alarm("unlock_failed", "The lock did not open.")
    unit.alarm("tamper")
    eventually(lambda: _open_codes(fleet) == ["unlock_failed", "tamper"], "two open alarms")
    assert vehicle(fleet)["state"] == "non_operational"
    fleet["clock"].advance(30)
    answer = clear(fleet, "unlock_failed", key="clear-1")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["cleared"] == 1 and body["cleared_by"] == "operator-0001"
    assert body["cleared_at"] == fm.format_time(START + 30)
    assert body["state"] == "available" and [a["code"] for a in body["alarms"]] == ["tamper"]
    replay = clear(fleet, "unlock_failed", key="clear-1")
    assert replay.json() == body and replay.headers["Idempotent-Replayed"] == "true"
    again = clear(fleet, "unlock_failed")
    assert again.status_code == 409 and again.json()["error"]["code"] == "alarm_not_open"
    detail = vehicle(fleet)
    closed = [a for a in detail["alarm_history"] if a["code"] == "unlock_failed"]
    assert closed == [{"code": "unlock_failed", "message": "The lock did not open.",
                       "raised_at": first.sent_at, "open": False,
                       "cleared_at": fm.format_time(START + 30),
                       "cleared_by": "operator-0001"}]
    assert {"kind": "alarm_cleared", "code": "unlock_failed", "by": "operator-0001",
            "at": START + 30} in detail["recent"]
    # The same alarm delivered again stays cleared; raised again (a new seq) it opens anew.
    unit.publish(first)
    fleet["clock"].advance(30)
    unit.alarm("unlock_failed", "The lock did not open again.")
    eventually(lambda: _open_codes(fleet) == ["tamper", "unlock_failed"], "raised anew")
    history = [(a["code"], a["open"]) for a in vehicle(fleet)["alarm_history"]]
    assert history == [("unlock_failed", True), ("tamper", True), ("unlock_failed", False)]
    assert vehicle(fleet)["state"] == "non_operational"
    # Operators only; unknown vehicles, bad codes and a missing key are plain errors.
    bike = {"Authorization": f"Bearer {fleet['server'].api_key_for('bike-0001')}"}
    assert clear(fleet, "tamper", auth=bike).status_code == 403
    assert clear(fleet, "tamper", device_id="bike-9999").json()["error"][
        "code"] == "unknown_vehicle"
    assert clear(fleet, "Not-A-Code").json()["error"]["code"] == "invalid_alarm"
    no_key = requests.post(f"{fleet['server'].url}/v1/fleet/vehicles/bike-0001/alarms/tamper"
                           "/clear", headers=fleet["auth"], timeout=5)
    assert no_key.status_code == 400 and _open_codes(fleet) == ["tamper", "unlock_failed"]


def test_expired_deadline_is_reported_expired(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.heartbeat()
    eventually(lambda: vehicle(fleet).get("online"), "vehicle known")
    assert unit.link is not None
    unit.link.close()  # away, but its persistent session keeps the command
    r = send(fleet, "find", deadline_s=5)
    command_id = r.json()["command_id"]
    bridge: Bridge = fleet["bridge"]
    eventually(lambda: bridge.stats.commands_published == 1, "published to the broker")
    fleet["clock"].advance(8)
    unit.connect()
    status = eventually(lambda: (s := get(fleet, f"/v1/fleet/commands/{command_id}").json())
                        ["status"] not in ("sent",) and s["answered_at"] and s, "an answer")
    assert status["status"] == "expired" and unit.executed == []


def test_unanswered_command_times_out(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.heartbeat()
    eventually(lambda: vehicle(fleet).get("online"), "vehicle known")
    assert unit.link is not None
    unit.link.close()
    command_id = send(fleet, "find", deadline_s=5).json()["command_id"]
    fleet["clock"].advance(5 + commands.ACK_GRACE_S + 1)
    assert get(fleet, f"/v1/fleet/commands/{command_id}").json()["status"] == "timed_out"


def test_duplicate_command_id_not_executed_twice(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.heartbeat()
    eventually(lambda: vehicle(fleet).get("online"), "vehicle known")
    command_id = send(fleet, "unlock").json()["command_id"]
    eventually(lambda: get(fleet, f"/v1/fleet/commands/{command_id}").json()["status"]
               == "done", "done")
    # The same command delivered again (a redelivery): the unit answers, does not act again.
    broker: Broker = fleet["broker"]
    sender = connect(broker.url, fm.BACKEND_USER, broker.password_of(fm.BACKEND_USER),
                     client_id="second-sender", clean=True)
    try:
        unit.answered.clear()
        cmd = fm.make_command("bike-0001", "unlock", {}, now=fleet["clock"](), deadline_s=30,
                              command_id=command_id)
        sender.publish(fm.down_topic("bike-0001"), fm.encode(cmd))
        assert unit.answered.wait(WAIT_S)
    finally:
        sender.close()
    assert unit.executed == [command_id]
    assert get(fleet, f"/v1/fleet/commands/{command_id}").json()["status"] == "done"


def test_gbfs_hides_trips_and_rotates_ids(fleet: dict[str, Any]) -> None:
    a, b = fleet["unit"]("bike-0001"), fleet["unit"]("bike-0002")
    for u in (a, b):
        u.heartbeat()
        u.position()
    url = f"{fleet['server'].url}/gbfs/vehicle_status.json"
    feed = eventually(lambda: len((f := requests.get(url, timeout=5).json())["data"]
                                  ["vehicles"]) == 2 and f, "two parked vehicles")
    assert feed["version"] == "3.0" and feed["ttl"] > 0
    ids_before = {v["vehicle_id"] for v in feed["data"]["vehicles"]}
    assert not ids_before & {"bike-0001", "bike-0002"}
    v0 = feed["data"]["vehicles"][0]
    assert v0["current_fuel_percent"] == 0.8 and v0["is_disabled"] is False
    assert v0["is_reserved"] is False and v0["lat"] == 31.23

    def ride(kind: str) -> None:
        fleet["clock"].advance(1)
        event = make_event(kind, terminal_id="bike-0001", subject_id="rider-good",
                           clock=fleet["clock"]).to_dict()
        assert a.link is not None
        a.link.publish(fm.up_topic("bike-0001", "events"),
                       fm.encode(fm.Events("bike-0001", a.now(), (event,))))

    ride("ride.started")
    eventually(lambda: vehicle(fleet).get("state") == "on_trip", "on trip")
    on_trip = requests.get(url, timeout=5).json()["data"]["vehicles"]
    assert len(on_trip) == 1 and on_trip[0]["vehicle_id"] in ids_before
    ride("ride.ended")
    eventually(lambda: vehicle(fleet).get("state") == "available", "trip over")
    after = {v["vehicle_id"] for v in requests.get(url, timeout=5).json()["data"]["vehicles"]}
    assert len(after) == 2 and len(after & ids_before) == 1  # bike-0001 has a new id


def test_a_unit_in_service_is_non_operational_and_no_gauge_means_no_charge(
        fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.position()
    # The latch opened by hand with no ride: the unit says "service"; it has no battery gauge.
    unit.seq += 1
    unit.publish(fm.Heartbeat("bike-0001", unit.now(), "unlocked", fm.SERVICE_STATE, None, None,
                              -70, 60, unit.seq))
    v = eventually(lambda: (x := vehicle(fleet)).get("unit_state") == "service" and x,
                   "the service heartbeat")
    assert v["state"] == "non_operational" and v["battery_pct"] is None
    assert v["heartbeats"][0]["battery_pct"] is None
    url = f"{fleet['server'].url}/gbfs/vehicle_status.json"
    (listed,) = requests.get(url, timeout=5).json()["data"]["vehicles"]
    assert listed["is_disabled"] is True and "current_fuel_percent" not in listed
    # The latch closed: available; a gauge reading shows, and a later null replaces it.
    fleet["clock"].advance(60)
    unit.heartbeat(battery=55)
    eventually(lambda: vehicle(fleet).get("battery_pct") == 55, "the closed latch")
    assert vehicle(fleet)["state"] == "available"
    (listed,) = requests.get(url, timeout=5).json()["data"]["vehicles"]
    assert listed["is_disabled"] is False and listed["current_fuel_percent"] == 0.55
    fleet["clock"].advance(60)
    unit.seq += 1
    unit.publish(fm.Heartbeat("bike-0001", unit.now(), "locked", "idle", None, None, -70, 60,
                              unit.seq))
    eventually(lambda: vehicle(fleet).get("battery_pct", 0) is None, "the gauge gone")
    assert [b["battery_pct"] for b in vehicle(fleet)["heartbeats"]] == [None, 55, None]
    (listed,) = requests.get(url, timeout=5).json()["data"]["vehicles"]
    assert "current_fuel_percent" not in listed


def test_heartbeats_kept_when_the_battery_column_becomes_nullable(store_url: str) -> None:
    from backend.app import migrations
    from backend.migrations import migrate
    from backend.store import open_store

    steps = migrations()
    cut = [m.name for m in steps].index("backend.routes_fleet:0004_heartbeat_battery_nullable")
    store = open_store(store_url)
    try:
        migrate(store, steps[:cut], START)  # a database from before the change, with a row
        with store.transaction() as conn:
            conn.execute("INSERT INTO fleet_heartbeats(device_id, slot, seq, at, lock_state,"
                         " unit_state, battery_pct, battery_mv, signal_dbm)"
                         " VALUES ('bike-0001', 3, 3, ?, 'locked', 'idle', 64, 3900, -70)",
                         (START,))
        assert steps[cut].name in migrate(store, steps, START)
        with store.transaction() as conn:
            conn.execute("INSERT INTO fleet_heartbeats(device_id, slot, seq, at, lock_state,"
                         " unit_state, battery_pct, battery_mv, signal_dbm)"
                         " VALUES ('bike-0001', 4, 4, ?, 'locked', 'idle', NULL, NULL, NULL)",
                         (START + 60,))
            rows = conn.execute("SELECT seq, battery_pct, battery_mv FROM fleet_heartbeats"
                                " ORDER BY seq").fetchall()
        assert [tuple(r) for r in rows] == [(3, 64, 3900), (4, None, None)]
    finally:
        store.close()


def _chain(device_id: str, kinds: list[str], clock: ManualClock,
           prev: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Events of ``kinds`` logged in this order at one instant, linked as a unit's outbox links
    them; each later event has a smaller id, so ``time|id`` would put them backwards. Returns
    the events and the chain head after them."""
    ids = sorted((f"evt_{uuid.uuid4().hex}" for _ in kinds), reverse=True)
    events = []
    for kind, event_id in zip(kinds, ids, strict=True):
        event = make_event(kind, terminal_id=device_id, subject_id="rider-good", clock=clock,
                           event_id=event_id).to_dict()
        if prev is not None:
            event["prev_hash"] = prev
        prev = chain_hash(event, prev)
        events.append(event)
    return events, prev


def _send_events(fleet: dict[str, Any], unit: FakeUnit, *events: dict[str, Any]) -> None:
    """Publish one events message and wait until the bridge has handled it."""
    bridge: Bridge = fleet["bridge"]
    before = bridge.stats.by_kind.get("events", 0)
    assert unit.link is not None
    unit.link.publish(fm.up_topic(unit.device_id, "events"),
                      fm.encode(fm.Events(unit.device_id, unit.now(), events)))
    eventually(lambda: bridge.stats.by_kind.get("events", 0) > before, "events handled")


def test_events_of_one_instant_apply_in_the_units_chain_order(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.heartbeat()
    eventually(lambda: vehicle(fleet).get("state") == "available", "vehicle known")
    (started, ended), _ = _chain("bike-0001", ["ride.started", "ride.ended"], fleet["clock"])
    assert started["time"] == ended["time"] and ended["id"] < started["id"]
    _send_events(fleet, unit, ended, started)  # batch order does not matter either
    assert vehicle(fleet)["state"] == "available"
    assert [e["type"] for e in vehicle(fleet)["recent"] if e["kind"] == "event"] == [
        "ride.ended", "ride.started"]


def test_an_older_event_arriving_late_does_not_turn_state_back(fleet: dict[str, Any]) -> None:
    unit = fleet["unit"]()
    unit.heartbeat()
    eventually(lambda: vehicle(fleet).get("state") == "available", "vehicle known")
    (started, ended), head = _chain("bike-0001", ["ride.started", "ride.ended"],
                                    fleet["clock"])
    # The later event first (its batch overtook the other), then the earlier one fills the
    # gap; then both again, as a unit resends after a reconnect.
    _send_events(fleet, unit, ended)
    assert vehicle(fleet)["state"] == "available"
    _send_events(fleet, unit, started)
    assert vehicle(fleet)["state"] == "available"
    _send_events(fleet, unit, started)
    _send_events(fleet, unit, started, ended)
    assert vehicle(fleet)["state"] == "available"
    events = [e for e in vehicle(fleet)["recent"] if e["kind"] == "event"]
    assert [e["type"] for e in events] == ["ride.ended"]  # the late one applied nothing
    # The chain goes on: the next ride (same instant again) starts and ends.
    (again,), head = _chain("bike-0001", ["ride.started"], fleet["clock"], head)
    _send_events(fleet, unit, again)
    assert vehicle(fleet)["state"] == "on_trip"
    (over,), _ = _chain("bike-0001", ["ride.ended"], fleet["clock"], head)
    _send_events(fleet, unit, over)
    _send_events(fleet, unit, again)
    assert vehicle(fleet)["state"] == "available"


@pytest.mark.sqlite_only
def test_bridge_refused_with_a_wrong_password(fleet: dict[str, Any]) -> None:
    bad = Bridge(fleet["server"].backend, fleet["broker"].url, "wrong", client_id="other")
    with pytest.raises(BridgeError, match="could not subscribe"):
        bad.start(timeout_s=2)


@pytest.mark.sqlite_only
def test_mqtt_urls() -> None:
    assert parse_mqtt_url("mqtt://127.0.0.1:1884") == ("127.0.0.1", 1884)
    assert parse_mqtt_url("mqtt://broker") == ("broker", 1883)
    for bad in ("http://x:1", "mqtt://", "mqtt://x:99999", "mqtt://x/path"):
        with pytest.raises(BridgeError):
            parse_mqtt_url(bad)

