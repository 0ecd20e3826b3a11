"""The bridge's batches: a command is published as soon as it is issued, and the telemetry of a
batch folded into one write per vehicle leaves the same state as applying each message alone."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.fleet import batch as fleet_batch
from backend.fleet import state
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


# -- telemetry folded per vehicle ----------------------------------------------------------

LOCKS = ("locked", "locked", "unlocked", "jammed")
UNIT_STATES = ("idle", "idle", "riding", fm.SERVICE_STATE)


def _unit_stream(rng: random.Random, device_id: str, n: int) -> list[fm.Message]:
    """What one unit sends, in its own order: heartbeats and positions, now and then an alarm
    or a status (times never go back; two messages may share one)."""
    out: list[fm.Message] = []
    t = START
    for seq in range(1, n + 1):
        t += rng.choice((0.0, 1.0, 30.0))
        at = fm.format_time(t)
        roll = rng.random()
        if roll < 0.5:
            out.append(fm.Heartbeat(device_id, at, rng.choice(LOCKS), rng.choice(UNIT_STATES),
                                    rng.choice((None, 10, 25, 30, 80)),
                                    rng.choice((None, 3900)), rng.choice((None, -70)),
                                    rng.choice((30, 60)), seq))
        elif roll < 0.85:
            out.append(fm.Position(device_id, at, 31.2 + rng.random() / 100,
                                   121.4 + rng.random() / 100, 4.0, seq))
        elif roll < 0.95:
            out.append(fm.Alarm(device_id, at, rng.choice(("jammed", "low_battery", "tamper")),
                                "Something is wrong.", seq))
        else:
            out.append(fm.Status(device_id, rng.random() < 0.5, at))
    return out


def _batches(rng: random.Random, streams: list[list[fm.Message]]) -> list[list[fm.Message]]:
    """The streams interleaved (each unit's order kept) and cut into batches; now and then a
    message of an earlier batch is delivered again (a redelivery after a reconnect)."""
    queues = [list(s) for s in streams]
    merged: list[fm.Message] = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        merged.append(q.pop(0))
    batches: list[list[fm.Message]] = []
    sent: list[fm.Message] = []
    while merged:
        size = rng.randint(1, 40)
        batch, merged = merged[:size], merged[size:]
        if sent and rng.random() < 0.3:
            batch.append(rng.choice(sent))
        sent.extend(batch)
        batches.append(batch)
    return batches


def _renamed(msg: fm.Message, device_id: str) -> fm.Message:
    return dataclasses.replace(msg, device_id=device_id)


def _apply_alone(conn: Any, msg: fm.Message, now: float) -> None:
    """One message as the bridge applied every message before batches were folded."""
    if isinstance(msg, fm.Heartbeat):
        state.apply_heartbeat(conn, msg, now)
    elif isinstance(msg, fm.Position):
        state.apply_position(conn, msg, now)
    elif isinstance(msg, fm.Alarm):
        state.apply_alarm(conn, msg, now)
    elif isinstance(msg, fm.Status):
        state.apply_status(conn, msg, now)


def _snapshot(conn: Any, device_id: str) -> dict[str, Any]:
    """Everything the fleet state keeps of one vehicle, without its ids."""
    row = dict(zip(*_columns(conn.execute("SELECT * FROM fleet_vehicles WHERE device_id = ?",
                                          (device_id,))), strict=True))
    for name in ("device_id", "gbfs_id", "created_at"):
        row.pop(name)
    beats = conn.execute("SELECT slot, seq, at, lock_state, unit_state, battery_pct,"
                         " battery_mv, signal_dbm FROM fleet_heartbeats WHERE device_id = ?"
                         " ORDER BY slot", (device_id,)).fetchall()
    alarms = conn.execute("SELECT code, message, raised_at, cleared_at, cleared_by"
                          " FROM fleet_alarms WHERE device_id = ? ORDER BY raised_at, code",
                          (device_id,)).fetchall()
    recent = conn.execute("SELECT n, kind, at, body FROM fleet_recent WHERE device_id = ?"
                          " ORDER BY n", (device_id,)).fetchall()
    return {"vehicle": row, "heartbeats": [tuple(r) for r in beats],
            "alarms": [tuple(r) for r in alarms], "recent": [tuple(r) for r in recent]}


def _columns(cur: Any) -> tuple[list[str], Any]:
    row = cur.fetchone()
    return [d[0] for d in cur.description], tuple(row)


@pytest.fixture()
def store() -> Iterator[Any]:
    with BackendServer(BackendSettings(clock=ManualClock(START))) as server:
        yield server.backend.store


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_folded_batches_leave_the_state_one_at_a_time_leaves(store: Any, seed: int) -> None:
    rng = random.Random(seed)
    units = [f"bike-{i:04d}" for i in range(1, 7)]
    streams = [_unit_stream(rng, d, rng.randint(5, 40)) for d in units]
    now = START
    for batch in _batches(rng, streams):
        now += 1.0
        with store.transaction() as conn:  # the reference: every message alone
            for msg in batch:
                _apply_alone(conn, _renamed(msg, "alone-" + msg.device_id), now)
        work = fleet_batch.plan(batch)
        assert not work.refused
        with store.transaction() as conn:  # folded, as the bridge does now
            fleet_batch.apply_telemetry(conn, work.telemetry, now)
            for msg in work.one_by_one:
                _apply_alone(conn, msg, now)
    with store.read() as conn:
        for device_id in units:
            assert _snapshot(conn, device_id) == _snapshot(conn, "alone-" + device_id), device_id


class CountingConnection:
    """A store connection that counts the statements sent through it (an ``executemany``
    is one pipelined statement on PostgreSQL)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self.statements = 0

    def execute(self, sql: str, params: Any = ()) -> Any:
        self.statements += 1
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> Any:
        self.statements += 1
        return self.conn.executemany(sql, rows)


def test_a_batch_of_telemetry_is_a_few_statements_however_many_vehicles(store: Any) -> None:
    def heartbeats(seq: int, lock: str) -> list[fm.Message]:
        at = fm.format_time(START + seq)
        return [m for i in range(200) for m in (
            fm.Heartbeat(f"bike-{i:04d}", at, lock, "idle", 80, 3900, -70, 30, seq),
            fm.Position(f"bike-{i:04d}", at, 31.2, 121.4, 4.0, seq + 1))]

    with store.transaction() as conn:  # one vehicle has an alarm the next heartbeat ends
        state.apply_alarm(conn, fm.Alarm("bike-0007", fm.format_time(START), "jammed",
                                         "The lock is stuck.", 1), START)
    for seq, lock in ((2, "unlocked"), (4, "locked")):
        work = fleet_batch.plan(heartbeats(seq, lock))
        assert len(work.telemetry) == 200 and not work.one_by_one
        with store.transaction() as conn:
            counting = CountingConnection(conn)
            fleet_batch.apply_telemetry(counting, work.telemetry, START + seq)
        # Read the rows, create the new ones (first batch only), the slots, the updates; for
        # the one vehicle with an open alarm, one statement per code a heartbeat may close
        # (a charged battery: low_battery; then the latch closed: the three lock alarms too).
        assert counting.statements == (4 + 1 if seq == 2 else 3 + 4)
    with store.read() as conn:
        assert state.open_alarms(conn, "bike-0007") == []
        row = conn.execute("SELECT lock_state, heartbeat_at, position_at FROM fleet_vehicles"
                           " WHERE device_id = ?", ("bike-0199",)).fetchone()
        assert (row["lock_state"], row["heartbeat_at"], row["position_at"]) == (
            "locked", START + 4, START + 4)


@pytest.mark.sqlite_only
def test_shards_keep_each_devices_messages_together_and_in_order() -> None:
    rng = random.Random(7)
    streams = [_unit_stream(rng, f"bike-{i:04d}", 10) for i in range(30)]
    merged = [m for batch in _batches(random.Random(1), streams) for m in batch]
    groups = fleet_batch.shard(merged, 4)
    assert len(groups) == 4 and sum(map(len, groups)) == len(merged)
    owners = [{m.device_id for m in g} for g in groups]
    assert all(not (a & b) for i, a in enumerate(owners) for b in owners[i + 1:])
    for group in groups:
        for device_id in {m.device_id for m in group}:
            assert [m for m in group if m.device_id == device_id] == \
                [m for m in merged if m.device_id == device_id]
    assert fleet_batch.shard(merged, 1) == [merged] and fleet_batch.shard([], 4) == []
