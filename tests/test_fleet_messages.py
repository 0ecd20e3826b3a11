"""Fleet messages: topics, round trips and every validation error."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from payments import fleet_messages as fm
from payments.fleet_messages import FleetMessageError

T0 = 1_796_000_000.0
SENT = fm.format_time(T0)
CMD_ID = "cmd_" + "ab" * 16


def _event() -> dict[str, Any]:
    return {"id": "evt_" + "0" * 32, "schema": 1, "type": "terminal.started",
            "time": "2026-11-30T10:00:00.000Z", "terminal_id": "bike-0001", "attributes": {}}


def samples() -> list[fm.Message]:
    return [
        fm.Status("bike-0001", True, SENT),
        fm.Status("bike-0001", False, None, "connection_lost"),
        fm.Heartbeat("bike-0001", SENT, "locked", "idle", 87, 3950, -71, 60, 12),
        fm.Heartbeat("bike-0001", SENT, "unknown", "riding", 0, None, None, 10, 0),
        fm.Heartbeat("bike-0001", SENT, "unlocked", fm.SERVICE_STATE, None, None, None, 60, 1),
        fm.Position("bike-0001", SENT, 31.2304, 121.4737, 5.0, 3),
        fm.Events("bike-0001", SENT, (_event(),)),
        fm.Alarm("bike-0001", SENT, "jammed", "The latch did not open.", 4),
        fm.make_command("bike-0001", "set_interval", {"heartbeat_s": 30}, now=T0,
                        deadline_s=30, command_id=CMD_ID),
        fm.make_command("bike-0001", "unlock", None, now=T0, deadline_s=15),
        fm.Ack("bike-0001", SENT, CMD_ID, "refused", "A ride is in progress.", "unlocked"),
    ]


@pytest.mark.parametrize("msg", samples(), ids=lambda m: m.kind)
def test_round_trip(msg: fm.Message) -> None:
    payload = fm.encode(msg)
    body = json.loads(payload)
    assert body["v"] == 1 and body["device_id"] == "bike-0001"
    assert fm.decode(msg.kind, payload) == msg
    assert fm.decode(msg.kind, payload.decode("utf-8")) == msg
    if msg.kind != "command":
        assert fm.decode_up(fm.up_topic("bike-0001", msg.kind), payload) == msg


def test_last_will_has_the_contract_shape() -> None:
    will = fm.Status("bike-0001", False, reason="connection_lost")
    assert json.loads(fm.encode(will)) == {"v": 1, "device_id": "bike-0001", "online": False,
                                           "reason": "connection_lost"}


def test_topics_and_filters() -> None:
    assert fm.up_topic("bike-0001", "heartbeat") == "scanpay/v1/devices/bike-0001/up/heartbeat"
    assert fm.down_topic("bike-0001") == "scanpay/v1/devices/bike-0001/down/command"
    assert fm.up_filter() == "scanpay/v1/devices/+/up/#"
    assert fm.down_filter("kiosk-0001") == "scanpay/v1/devices/kiosk-0001/down/#"
    assert fm.parse_topic("scanpay/v1/devices/bike-0001/up/ack") == fm.Topic("bike-0001", "up",
                                                                              "ack")
    assert fm.parse_topic(fm.down_topic("b1")).direction == "down"


@pytest.mark.parametrize("topic", [
    "scanpay/v1/devices/bike-0001/up", "scanpay/v2/devices/bike-0001/up/ack",
    "scanpay/v1/devices/bike-0001/up/command", "scanpay/v1/devices/bike-0001/down/ack",
    "scanpay/v1/devices/+/up/ack", "scanpay/v1/devices/bike-0001/up/ack/x",
    "scanpay/v1/devices/scanpay-backend/up/ack",
])
def test_bad_topics(topic: str) -> None:
    with pytest.raises(FleetMessageError):
        fm.parse_topic(topic)


@pytest.mark.parametrize("device_id", ["", "a/b", "a+b", "#", "a b", "a:b", "-x", "x" * 65,
                                       "scanpay-backend", "scanpay-backend-bridge", 7, None])
def test_bad_device_ids(device_id: Any) -> None:
    assert not fm.valid_device_id(device_id)
    with pytest.raises(FleetMessageError, match="device id"):
        fm.up_topic(device_id, "status")


def test_unknown_kinds_refused() -> None:
    with pytest.raises(FleetMessageError, match="up kind"):
        fm.up_topic("b1", "command")
    with pytest.raises(FleetMessageError, match="down kind"):
        fm.down_topic("b1", "ack")
    with pytest.raises(FleetMessageError, match="message kind"):
        fm.decode("nope", b"{}")
    with pytest.raises(FleetMessageError, match="message kind"):
        fm.from_json("nope", {})


def test_command_ids() -> None:
    ids = {fm.new_command_id() for _ in range(50)}
    assert len(ids) == 50 and all(fm.valid_command_id(i) for i in ids)
    for bad in ("cmd_" + "AB" * 16, "cmd_" + "a" * 31, "evt_" + "a" * 32, None, 3):
        assert not fm.valid_command_id(bad)


def test_times() -> None:
    assert fm.parse_time(fm.format_time(T0 + 0.25)) == pytest.approx(T0 + 0.25)
    assert fm.parse_time("2026-11-30T10:00:00Z") == fm.parse_time("2026-11-30T10:00:00.000Z")
    for bad in ("2026-11-30T10:00:00", "2026-11-30 10:00:00Z", "2026-11-30T10:00:00+00:00",
                "2026-13-40T10:00:00Z", 5):
        with pytest.raises(FleetMessageError, match="sent_at"):
            fm.parse_time(bad, "sent_at")


def test_command_expiry() -> None:
    cmd = fm.make_command("b1", "find", {}, now=T0, deadline_s=10)
    assert not cmd.expired(T0 + 10) and cmd.expired(T0 + 10.5)
    with pytest.raises(FleetMessageError, match="deadline_s"):
        fm.make_command("b1", "find", {}, now=T0, deadline_s=0)


def _wire(kind: str) -> dict[str, Any]:
    msg = next(m for m in samples() if m.kind == kind)
    return fm.to_json(msg)


# (kind, change to the wire object, fragment of the error)
BAD_PAYLOADS: list[tuple[str, dict[str, Any], str]] = [
    ("status", {"v": 2}, "v must be 1"),
    ("status", {"v": True}, "v must be 1"),
    ("status", {"online": "yes"}, "online"),
    ("status", {"reason": ""}, "reason"),
    ("status", {"extra": 1}, "unknown field"),
    ("status", {"device_id": "a/b"}, "device id"),
    ("status", {"sent_at": "yesterday"}, "sent_at"),
    ("heartbeat", {"lock": "open"}, "heartbeat.lock"),
    ("heartbeat", {"unit_state": ""}, "unit_state"),
    ("heartbeat", {"unit_state": "x" * 65}, "unit_state"),
    ("heartbeat", {"battery_pct": 101}, "battery_pct"),
    ("heartbeat", {"battery_pct": -1}, "battery_pct"),
    ("heartbeat", {"battery_pct": 50.5}, "battery_pct"),
    ("heartbeat", {"battery_pct": True}, "battery_pct"),
    ("heartbeat", {"battery_pct": "unknown"}, "battery_pct"),
    ("heartbeat", {"battery_mv": -5}, "battery_mv"),
    ("heartbeat", {"signal_dbm": 3}, "signal_dbm"),
    ("heartbeat", {"interval_s": 0}, "interval_s"),
    ("heartbeat", {"seq": -1}, "seq"),
    ("heartbeat", {"seq": "1"}, "seq"),
    ("heartbeat", {"sent_at": None}, "sent_at"),
    ("position", {"lat": 91.0}, "lat"),
    ("position", {"lon": -180.5}, "lon"),
    ("position", {"lat": "31.2"}, "lat"),
    ("position", {"accuracy_m": -1}, "accuracy_m"),
    ("events", {"events": []}, "1..500"),
    ("events", {"events": [{}] * 501}, "1..500"),
    ("events", {"events": ["x"]}, r"events\[0\]"),
    ("events", {"events": {"id": 1}}, "1..500"),
    ("alarm", {"code": "Jammed"}, "alarm.code"),
    ("alarm", {"code": ""}, "alarm.code"),
    ("alarm", {"message": " "}, "alarm.message"),
    ("alarm", {"message": "a\x00b"}, "control"),
    ("alarm", {"message": "x" * 257}, "alarm.message"),
    ("command", {"command_id": "cmd_123"}, "command_id"),
    ("command", {"command": "explode"}, "command.command"),
    ("command", {"args": {"heartbeat_s": 5}}, "heartbeat_s"),
    ("command", {"args": {"heartbeat_s": 3601}}, "heartbeat_s"),
    ("command", {"args": {"heartbeat_s": 30, "x": 1}}, "nothing else"),
    ("command", {"args": []}, "args"),
    ("command", {"command": "lock"}, "takes no args"),
    ("command", {"deadline": "2020-01-01T00:00:00Z"}, "after command.issued_at"),
    ("command", {"issued_at": "soon"}, "issued_at"),
    ("ack", {"status": "ok"}, "ack.status"),
    ("ack", {"lock": "broken"}, "ack.lock"),
    ("ack", {"detail": 5}, "ack.detail"),
    ("ack", {"command_id": None}, "command_id"),
]


@pytest.mark.parametrize(("kind", "change", "fragment"), BAD_PAYLOADS,
                         ids=[f"{k}-{'-'.join(c)}" for k, c, _ in BAD_PAYLOADS])
def test_every_validation_error(kind: str, change: dict[str, Any], fragment: str) -> None:
    body = {**_wire(kind), **change}
    with pytest.raises(FleetMessageError, match=fragment):
        fm.decode(kind, json.dumps(body))


@pytest.mark.parametrize("kind", ["heartbeat", "position", "alarm", "command", "ack", "events"])
def test_missing_fields(kind: str) -> None:
    body = _wire(kind)
    for name in list(body):
        if name == "v":
            continue
        partial = {k: v for k, v in body.items() if k != name}
        with pytest.raises(FleetMessageError, match=f"missing field.*{name}"):
            fm.decode(kind, json.dumps(partial))


def test_payload_level_errors() -> None:
    with pytest.raises(FleetMessageError, match="not UTF-8 JSON"):
        fm.decode("status", b"\xff\xfe")
    with pytest.raises(FleetMessageError, match="not UTF-8 JSON"):
        fm.decode("status", b"{nope")
    with pytest.raises(FleetMessageError, match="not UTF-8 JSON"):
        fm.decode("position", b'{"lat": NaN}')
    with pytest.raises(FleetMessageError, match="JSON object"):
        fm.decode("status", b"[1]")
    with pytest.raises(FleetMessageError, match="at most"):
        fm.decode("events", b" " * (fm.MAX_PAYLOAD_BYTES + 1))


def test_a_unit_without_a_gauge_sends_null_not_a_made_up_charge() -> None:
    beat = fm.Heartbeat("bike-0001", SENT, "locked", "idle", None, None, None, 60, 7)
    body = json.loads(fm.encode(beat))
    assert "battery_pct" in body and body["battery_pct"] is None
    assert fm.decode("heartbeat", json.dumps(body)) == beat
    # Null is said, not implied: leaving the field out is still malformed.
    del body["battery_pct"]
    with pytest.raises(FleetMessageError, match=r"missing field.*battery_pct"):
        fm.decode("heartbeat", json.dumps(body))


def test_encode_checks_and_limits() -> None:
    hb = samples()[2]
    assert isinstance(hb, fm.Heartbeat)
    with pytest.raises(FleetMessageError, match="battery_pct"):
        fm.encode(replace(hb, battery_pct=200))
    big = fm.Events("b1", SENT, tuple({"pad": "x" * 4000} for _ in range(300)))
    with pytest.raises(FleetMessageError, match="at most"):
        fm.encode(big)


def test_decode_up_checks_topic_and_device() -> None:
    payload = fm.encode(samples()[2])
    with pytest.raises(FleetMessageError, match="does not match"):
        fm.decode_up(fm.up_topic("bike-0002", "heartbeat"), payload)
    with pytest.raises(FleetMessageError, match="not a topic units publish"):
        fm.decode_up(fm.down_topic("bike-0001"), payload)
    with pytest.raises(FleetMessageError, match="unknown field"):
        fm.decode_up(fm.up_topic("bike-0001", "position"), payload)
