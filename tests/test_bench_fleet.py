"""`scanpay bench fleet`: a short real run (mosquitto, the back end on SQLite with its MQTT
bridge, emulated units) checked for correctness, never speed; and the parts around it."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.fleet.broker import Broker
from payments.fleet_messages import (
    BACKEND_USER,
    decode,
    down_topic,
    encode,
    make_command,
    up_filter,
)
from terminal.bench.fleet import FleetPlan, percentile, plot, register, run_fleet
from terminal.bench.fleet_cpu import saturated
from terminal.bench.fleet_mqtt import Message, MqttClient
from terminal.bench.fleet_units import FleetRecord, HttpPool, SimUnit, UnitPlan
from tests.fleet_support import need_mosquitto

UNIT = "fbike-09001"


def test_a_short_fleet_run_loses_nothing_duplicates_nothing_and_every_command_is_acked(
        tmp_path: Path) -> None:
    need_mosquitto()
    plan = FleetPlan(locks=20, seconds=2.0, heartbeat_s=1.0, rides_per_s=4.0,
                     commands_per_s=4.0, ride_s=(0.2, 0.6), seed=3)
    result = run_fleet(plan)
    assert result.locks == 20 and result.store == "sqlite" and result.broker == "mosquitto"
    assert result.rides_started > 0 and result.events_sent > 0
    assert result.events_stored == result.events_sent
    assert result.lost == 0 and result.duplicated == 0
    assert result.commands_sent > 0
    assert result.commands_acked == result.commands_sent, result.command_status
    assert result.heartbeats > 0 and result.p50_ms is not None
    data = result.to_json()
    for key in ("locks", "store", "broker", "events_sent", "events_stored", "lost",
                "duplicated", "commands_sent", "commands_acked", "p50_ms", "p99_ms",
                "saturated"):
        assert key in data
    json.dumps(data)  # JSON-ready
    png = plot([result], tmp_path / "fleet_latency.png")
    assert png.stat().st_size > 1000


def test_nothing_is_lost_or_stored_twice_across_a_broker_restart() -> None:
    """Units and the bridge reconnect; persistent sessions keep what was queued; batches
    without a PUBACK are sent again and stored once."""
    need_mosquitto()
    plan = FleetPlan(locks=20, seconds=3.0, heartbeat_s=1.0, rides_per_s=4.0,
                     commands_per_s=4.0, ride_s=(0.2, 0.6), seed=5, restart_broker=True)
    result = run_fleet(plan)
    assert result.broker_restarts == 1 and result.reconnects >= 20
    assert result.events_sent > 0 and result.lost == 0 and result.duplicated == 0
    assert result.commands_acked == result.commands_sent, result.unanswered
    assert result.offline_at_end == []


@pytest.fixture
def broker() -> Iterator[Broker]:
    need_mosquitto()
    with Broker.for_dev([UNIT]) as running:
        yield running


def test_a_unit_acks_each_command_once_resends_its_first_ack_and_refuses_late_ones(
        broker: Broker) -> None:
    """The back end's side is played by a client with the bridge's credentials."""

    async def run() -> list[dict[str, object]]:
        acks: list[dict[str, object]] = []
        got = asyncio.Event()

        async def on_ack(message: Message) -> None:
            if message.topic.endswith("/up/ack"):
                acks.append(json.loads(message.payload))
                got.set()

        backend = MqttClient(BACKEND_USER, host=broker.host, port=broker.port,
                             username=BACKEND_USER, password=broker.password_of(BACKEND_USER),
                             clean_session=True, on_message=on_ack)
        await backend.connect()
        await backend.subscribe([(up_filter(), 1)])
        record = FleetRecord()
        unit = SimUnit(UNIT, api_key="unused", mqtt_password=broker.password_of(UNIT),
                       broker=(broker.host, broker.port), http=HttpPool(1, 1), record=record,
                       plan=UnitPlan(), rng=random.Random(1), issue_code=str, riders=["r"])
        await unit.connect()
        now = time.time()
        unlock = make_command(UNIT, "unlock", {}, now=now, deadline_s=30)
        late = make_command(UNIT, "find", {}, now=now - 60, deadline_s=10)
        for cmd in (unlock, unlock, late):
            got.clear()
            await backend.publish(down_topic(UNIT), encode(cmd), qos=1)
            await asyncio.wait_for(got.wait(), 5)
        await unit.wait_idle()
        await unit.close()
        await backend.disconnect()
        assert record.commands_repeated == 1
        return acks

    acks = asyncio.run(run())
    assert [a["status"] for a in acks] == ["done", "done", "expired"]
    assert acks[0] == acks[1]  # the first ack again, not a second unlock
    assert acks[0]["lock"] == "unlocked"
    for ack in acks:  # every ack follows the contract
        decode("ack", json.dumps(ack))


def test_percentile_and_what_saturates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile(list(map(float, range(101))), 0.99) == 99.0
    busy = {"broker": {"mean_cores": 0.2, "limit_cores": 1.0},
            "backend": {"mean_cores": 0.95, "limit_cores": 1.0}}
    assert saturated(busy) == "backend CPU"
    calm = {"broker": {"mean_cores": 0.1, "limit_cores": 1.0}}
    assert saturated(calm, cpus=2) == "none"
    spread = {"a": {"mean_cores": 0.6, "limit_cores": 1.0},
              "b": {"mean_cores": 0.6, "limit_cores": 1.0},
              "c": {"mean_cores": 0.6, "limit_cores": 1.0}}
    assert saturated(spread, cpus=2) == "machine CPU (all cores busy)"
    crowded = {**calm, "machine": {"mean_cores": 1.9, "limit_cores": 2.0}}
    assert saturated(crowded, cpus=2) == \
        "machine CPU (all cores busy, other processes included)"


def test_bad_arguments_are_refused_with_a_clear_error(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    parser = argparse.ArgumentParser(prog="bench")
    register(parser.add_subparsers())
    for bad in (["fleet", "--locks", "0"], ["fleet", "--locks", "ten"],
                ["fleet", "--seconds", "-1"], ["fleet", "--commands-per-s", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    assert "--locks" in capsys.readouterr().err
    ok = parser.parse_args(["fleet", "--locks", "100,1000", "--json"])
    assert ok.locks == [100, 1000] and ok.json is True
