"""One bridge batch's telemetry in a few statements, whatever the number of vehicles in it.

Applied one at a time (:mod:`backend.fleet.state`), a heartbeat costs about six statements and a
position two; on PostgreSQL each is a network round trip, so the bridge waited on the database
rather than working (docs/scaling.md). Here the heartbeats and positions of a batch are folded
per vehicle and written together:

1. one ``SELECT ... FOR UPDATE`` of the batch's vehicle rows (when each last heartbeat and
   position was sent, whether it has open alarms); rows of vehicles heard for the first time
   are created with one ``executemany``;
2. every heartbeat into the vehicle's recent heartbeat slots, one ``executemany``;
3. one ``UPDATE`` per vehicle (at most four statement shapes, one ``executemany`` each):
   online and last seen, the newest heartbeat's fields, the newest position;
4. alarms a heartbeat shows are over (the latch closed, the battery charged) closed, only for
   vehicles that have open alarms.

``executemany`` is pipelined on PostgreSQL (psycopg), so a batch of 500 heartbeats costs a
handful of round trips instead of thousands. The result is the state the messages would leave
applied one at a time in the unit's order (``sent_at``, then ``seq``): heartbeats not older than
the stored one apply, the newest sets the fields, each in turn may start (``unit_state``
:data:`~payments.fleet_messages.SERVICE_STATE`) or end (the lock ``locked``) service mode; a
position applies when it is not older than the stored one.

:func:`plan` splits a batch: a vehicle with any other message in the batch (status, alarm, ack,
events) has all its messages applied one at a time in arrival order, since those messages and
its telemetry change the same fields (online, lock state, service mode). :func:`shard` splits
those by device for writers on connections of their own (an event batch alone is tens of
statements, so on PostgreSQL the bridge applies them on several connections at once).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.fleet.state import (
    BATTERY_CLEAR_PCT,
    HEARTBEAT_SLOT_SQL,
    LOCKED_CLEARS,
    clear_alarms,
    heartbeat_slot,
    new_gbfs_id,
)
from payments.fleet_messages import (
    SERVICE_STATE,
    FleetMessageError,
    Heartbeat,
    Message,
    Position,
    parse_time,
)

# Vehicle rows read per statement (bounded: a statement's parameters are limited).
CHUNK = 500

_HEARTBEAT_SET = ("lock_state = ?, unit_state = ?, battery_pct = ?, battery_mv = ?,"
                  " signal_dbm = ?, interval_s = ?, heartbeat_at = ?,"
                  " in_service = CASE WHEN ? = 1 THEN 1 WHEN ? = 0 THEN 0 ELSE in_service END")
_POSITION_SET = "lat = ?, lon = ?, accuracy_m = ?, position_at = ?"


@dataclass
class VehicleTelemetry:
    """One vehicle's heartbeats and positions of a batch, each with its send time."""

    device_id: str
    heartbeats: list[tuple[float, Heartbeat]] = field(default_factory=list)
    positions: list[tuple[float, Position]] = field(default_factory=list)


@dataclass
class BatchPlan:
    """A batch split: telemetry folded per vehicle, the rest one message at a time."""

    telemetry: dict[str, VehicleTelemetry]
    one_by_one: list[Message]
    # Messages whose send time cannot be read (dropped, with the reason).
    refused: list[tuple[Message, str]]


def plan(messages: Iterable[Message]) -> BatchPlan:
    """Split a batch (in arrival order): the vehicles that sent only heartbeats and positions
    get their telemetry folded; every message of the other vehicles stays in order."""
    messages = list(messages)
    mixed = {m.device_id for m in messages if not isinstance(m, (Heartbeat, Position))}
    telemetry: dict[str, VehicleTelemetry] = {}
    one_by_one: list[Message] = []
    refused: list[tuple[Message, str]] = []
    for msg in messages:
        if msg.device_id in mixed or not isinstance(msg, (Heartbeat, Position)):
            one_by_one.append(msg)
            continue
        try:
            at = parse_time(msg.sent_at)
        except FleetMessageError as exc:
            refused.append((msg, str(exc)))
            continue
        entry = telemetry.setdefault(msg.device_id, VehicleTelemetry(msg.device_id))
        if isinstance(msg, Heartbeat):
            entry.heartbeats.append((at, msg))
        else:
            entry.positions.append((at, msg))
    return BatchPlan(telemetry, one_by_one, refused)


def shard(messages: Iterable[Message], parts: int) -> list[list[Message]]:
    """``messages`` split into at most ``parts`` lists by device (a device's messages stay
    together, in order), for writers on connections of their own: no two of them touch the
    same vehicle's rows."""
    groups: list[list[Message]] = [[] for _ in range(max(1, parts))]
    for msg in messages:
        groups[zlib.crc32(msg.device_id.encode()) % len(groups)].append(msg)
    return [g for g in groups if g]


def apply_telemetry(conn: Any, telemetry: Mapping[str, VehicleTelemetry], now: float) -> int:
    """Write the folded telemetry of a batch (see the module notes) inside the caller's
    transaction; the number of statements sent (each ``executemany`` counted once)."""
    if not telemetry:
        return 0
    ids = sorted(telemetry)
    stored, statements = _stored(conn, ids)
    missing = [d for d in ids if d not in stored]
    if missing:
        conn.executemany(
            "INSERT INTO fleet_vehicles(device_id, gbfs_id, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (device_id) DO NOTHING",
            [(d, new_gbfs_id(), now) for d in missing])
        statements += 1
    slots: list[Sequence[Any]] = []
    updates: dict[tuple[bool, bool], list[list[Any]]] = {}
    clears: list[tuple[str, tuple[str, ...]]] = []
    for device_id in ids:
        entry = telemetry[device_id]
        heartbeat_at, position_at, has_alarms = stored.get(device_id, (None, None, False))
        beats = sorted(entry.heartbeats, key=lambda b: (b[0], b[1].seq))
        slots.extend(heartbeat_slot(m, at) for at, m in beats)
        applied = [(at, m) for at, m in beats if heartbeat_at is None or at >= heartbeat_at]
        position = max(entry.positions, key=lambda p: (p[0], p[1].seq), default=None)
        if position is not None and position_at is not None and position[0] < position_at:
            position = None  # older than the one stored
        if not beats and position is None:
            continue  # only late positions: nothing changes, as one at a time
        params: list[Any] = [now]
        if applied:
            at, last = applied[-1]
            params += [last.lock, last.unit_state, last.battery_pct, last.battery_mv,
                       last.signal_dbm, last.interval_s, at, *([_service_change(applied)] * 2)]
        if position is not None:
            at, pos = position
            params += [pos.lat, pos.lon, pos.accuracy_m, at]
        params.append(device_id)
        updates.setdefault((bool(applied), position is not None), []).append(params)
        if has_alarms:
            codes: tuple[str, ...] = ()
            if any(m.lock == "locked" for _, m in applied):
                codes += LOCKED_CLEARS
            if any(m.battery_pct is not None and m.battery_pct >= BATTERY_CLEAR_PCT
                   for _, m in applied):
                codes += ("low_battery",)
            if codes:
                clears.append((device_id, codes))
    if slots:
        conn.executemany(HEARTBEAT_SLOT_SQL, slots)
        statements += 1
    for (beat, pos), rows in sorted(updates.items()):
        sets = ["online = 1", "last_seen = ?"]
        if beat:
            sets.append(_HEARTBEAT_SET)
        if pos:
            sets.append(_POSITION_SET)
        conn.executemany(f"UPDATE fleet_vehicles SET {', '.join(sets)} WHERE device_id = ?",
                         rows)
        statements += 1
    for device_id, codes in clears:
        clear_alarms(conn, device_id, codes, now)
        statements += len(codes)
    return statements


def _stored(conn: Any, ids: list[str]) -> tuple[dict[str, tuple[float | None, float | None,
                                                                bool]], int]:
    """Per known vehicle: its last heartbeat's and position's send times and whether it has
    open alarms (rows locked until the transaction ends); and the statements sent."""
    out: dict[str, tuple[float | None, float | None, bool]] = {}
    statements = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT device_id, heartbeat_at, position_at, EXISTS (SELECT 1 FROM fleet_alarms a"
            " WHERE a.device_id = v.device_id AND a.cleared_at IS NULL) AS alarms"
            f" FROM fleet_vehicles v WHERE device_id IN ({marks}) ORDER BY device_id"
            " FOR UPDATE", chunk).fetchall()
        statements += 1
        for r in rows:
            out[str(r["device_id"])] = (_float(r["heartbeat_at"]), _float(r["position_at"]),
                                        bool(r["alarms"]))
    return out, statements


def _service_change(applied: list[tuple[float, Heartbeat]]) -> int:
    """1: the heartbeats leave the vehicle in service, 0: out of it, -1: as it was."""
    change = -1
    for _, m in applied:
        if m.unit_state == SERVICE_STATE:
            change = 1
        elif m.lock == "locked":
            change = 0
    return change


def _float(value: Any) -> float | None:
    return None if value is None else float(value)

