"""Fleet state: each vehicle's last telemetry and its MDS 2.0 vehicle state.

Stored per vehicle: lock state, unit state, battery, signal, position, online, last seen, the
reporting interval, whether it is on a trip or in service (an operator's remote unlock), its
GBFS id (rotated after every trip), open alarms (closed by the unit's own report or by an
operator, who and when recorded), a bounded list of recent telemetry, and its last
:data:`HEARTBEATS_KEPT` heartbeats (battery and signal over time, one row per slot: the table
never grows past that many rows per vehicle).

MDS state (:func:`mds_state`), first rule that applies:

- ``unknown``: nothing heard for more than 3 reporting intervals (e.g. after the last will);
- ``on_trip``: a ``ride.started`` event without its ``ride.ended`` (events apply in the
  unit's hash-chain order, see :func:`apply_events`);
- ``non_operational``: in service — after a remote unlock, or while the unit's heartbeat says
  ``unit_state: "service"`` (e.g. its latch opened by hand) — until a ``lock`` command or the
  latch closing; a jammed lock; or an open ``jammed`` / ``unlock_failed`` alarm;
- ``available`` otherwise. (``reserved`` and ``removed`` are not reported by units.)

All SQL here runs on SQLite and PostgreSQL (``?`` placeholders, ON CONFLICT, ids from Python).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from payments.event_chain import chain_hash
from payments.fleet_messages import SERVICE_STATE, Alarm, Heartbeat, Position, Status, parse_time

MDS_STATES: tuple[str, ...] = ("available", "reserved", "on_trip", "non_operational",
                               "removed", "unknown")
# Alarms that take a vehicle out of operation while open.
DISABLING_ALARMS: frozenset[str] = frozenset({"jammed", "unlock_failed"})
# Missed intervals after which a silent vehicle is `unknown`.
STALE_INTERVALS = 3
DEFAULT_INTERVAL_S = 60
# Recent telemetry entries kept per vehicle.
RECENT_KEPT = 20
# A low_battery alarm clears at this charge.
BATTERY_CLEAR_PCT = 30
# Heartbeats kept per vehicle (battery and signal over time).
HEARTBEATS_KEPT = 20
# Alarms (open and closed) shown in a vehicle's detail.
ALARM_HISTORY = 20
# Who closes an alarm when the unit's own heartbeat shows it is over.
CLEARED_BY_UNIT = "unit"
# Alarms a heartbeat with the latch closed ends.
LOCKED_CLEARS: tuple[str, ...] = ("jammed", "unlock_failed", "lock_timeout")
# How far back a unit's event chain is followed to tell that a late event is older.
CHAIN_LOOKBACK = 5000

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS fleet_vehicles (
    device_id TEXT PRIMARY KEY,
    lock_state TEXT NOT NULL DEFAULT 'unknown',
    unit_state TEXT,
    battery_pct INTEGER,
    battery_mv INTEGER,
    signal_dbm INTEGER,
    interval_s INTEGER NOT NULL DEFAULT 60,
    lat REAL,
    lon REAL,
    accuracy_m REAL,
    online INTEGER NOT NULL DEFAULT 0,
    last_seen REAL,
    status_at REAL,
    heartbeat_at REAL,
    position_at REAL,
    on_trip INTEGER NOT NULL DEFAULT 0,
    in_service INTEGER NOT NULL DEFAULT 0,
    last_event_key TEXT NOT NULL DEFAULT '',
    gbfs_id TEXT NOT NULL,
    recent_n BIGINT NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fleet_alarms (
    alarm_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    raised_at REAL NOT NULL,
    cleared_at REAL
);
CREATE INDEX IF NOT EXISTS fleet_alarms_open ON fleet_alarms(device_id, cleared_at);
CREATE TABLE IF NOT EXISTS fleet_recent (
    device_id TEXT NOT NULL,
    n BIGINT NOT NULL,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (device_id, n)
);
"""

# Changes to the tables above, each applied once (backend/migrations.py), in this order.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("0001_alarm_cleared_by", "ALTER TABLE fleet_alarms ADD COLUMN cleared_by TEXT"),
    ("0002_heartbeats", """
CREATE TABLE IF NOT EXISTS fleet_heartbeats (
    device_id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    at REAL NOT NULL,
    lock_state TEXT NOT NULL,
    unit_state TEXT NOT NULL,
    battery_pct INTEGER NOT NULL,
    battery_mv INTEGER,
    signal_dbm INTEGER,
    PRIMARY KEY (device_id, slot)
);
"""),
    # The chain hash of the last event applied (events apply in the unit's chain order).
    ("0003_event_head", "ALTER TABLE fleet_vehicles ADD COLUMN event_head TEXT"),
    # A heartbeat's battery_pct may be null (no gauge): the slots table rebuilt without NOT
    # NULL on it (SQLite cannot drop a constraint in place), its rows kept.
    ("0004_heartbeat_battery_nullable", """
CREATE TABLE fleet_heartbeats_next (
    device_id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    at REAL NOT NULL,
    lock_state TEXT NOT NULL,
    unit_state TEXT NOT NULL,
    battery_pct INTEGER,
    battery_mv INTEGER,
    signal_dbm INTEGER,
    PRIMARY KEY (device_id, slot)
);
INSERT INTO fleet_heartbeats_next(device_id, slot, seq, at, lock_state, unit_state, battery_pct,
    battery_mv, signal_dbm)
    SELECT device_id, slot, seq, at, lock_state, unit_state, battery_pct, battery_mv, signal_dbm
    FROM fleet_heartbeats;
DROP TABLE fleet_heartbeats;
ALTER TABLE fleet_heartbeats_next RENAME TO fleet_heartbeats;
"""),
)


def new_gbfs_id() -> str:
    """A fresh public vehicle id for the GBFS feed (unlinkable to the device id)."""
    return "v_" + secrets.token_hex(12)


def ensure_vehicle(conn: sqlite3.Connection, device_id: str, now: float) -> None:
    """Create the vehicle row on first contact."""
    conn.execute(
        "INSERT INTO fleet_vehicles(device_id, gbfs_id, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT (device_id) DO NOTHING", (device_id, new_gbfs_id(), now))


def record_recent(conn: sqlite3.Connection, device_id: str, kind: str, body: Mapping[str, Any],
                  now: float) -> None:
    """Keep ``body`` among the vehicle's last :data:`RECENT_KEPT` telemetry entries.

    The counter is bumped before it is read: on PostgreSQL the UPDATE locks the vehicle's row,
    so two writers at once (the bridge, an operator's request) never take the same number."""
    conn.execute("UPDATE fleet_vehicles SET recent_n = recent_n + 1 WHERE device_id = ?",
                 (device_id,))
    row = conn.execute("SELECT recent_n FROM fleet_vehicles WHERE device_id = ?",
                       (device_id,)).fetchone()
    if row is None:
        return
    n = int(row["recent_n"])
    conn.execute("INSERT INTO fleet_recent(device_id, n, kind, at, body) VALUES (?, ?, ?, ?, ?)"
                 " ON CONFLICT (device_id, n) DO NOTHING",
                 (device_id, n, kind, now, json.dumps(dict(body), sort_keys=True)))
    conn.execute("DELETE FROM fleet_recent WHERE device_id = ? AND n <= ?",
                 (device_id, n - RECENT_KEPT))


def apply_status(conn: sqlite3.Connection, msg: Status, now: float) -> None:
    """Online on connect; offline from the last will (or a clean goodbye)."""
    ensure_vehicle(conn, msg.device_id, now)
    at = parse_time(msg.sent_at) if msg.sent_at is not None else now
    row = conn.execute("SELECT status_at FROM fleet_vehicles WHERE device_id = ?",
                       (msg.device_id,)).fetchone()
    if row["status_at"] is not None and at < float(row["status_at"]):
        return  # an older status delivered late
    if msg.online:
        conn.execute("UPDATE fleet_vehicles SET online = 1, status_at = ?, last_seen = ?"
                     " WHERE device_id = ?", (at, now, msg.device_id))
    else:
        conn.execute("UPDATE fleet_vehicles SET online = 0, status_at = ? WHERE device_id = ?",
                     (at, msg.device_id))
    record_recent(conn, msg.device_id, "status",
                  {"online": msg.online, "reason": msg.reason}, now)


def apply_heartbeat(conn: sqlite3.Connection, msg: Heartbeat, now: float) -> None:
    """Last lock state, battery (None: the unit has no gauge), signal and interval; a unit that
    says it is in service (``unit_state`` :data:`~payments.fleet_messages.SERVICE_STATE`)
    starts service mode, the latch closing ends it."""
    ensure_vehicle(conn, msg.device_id, now)
    at = parse_time(msg.sent_at)
    row = conn.execute("SELECT heartbeat_at FROM fleet_vehicles WHERE device_id = ?",
                       (msg.device_id,)).fetchone()
    conn.execute("UPDATE fleet_vehicles SET online = 1, last_seen = ? WHERE device_id = ?",
                 (now, msg.device_id))
    record_heartbeat(conn, msg, at)
    if row["heartbeat_at"] is not None and at < float(row["heartbeat_at"]):
        return  # older than the one we have
    conn.execute(
        "UPDATE fleet_vehicles SET lock_state = ?, unit_state = ?, battery_pct = ?,"
        " battery_mv = ?, signal_dbm = ?, interval_s = ?, heartbeat_at = ?,"
        " in_service = CASE WHEN ? = 1 THEN 1 WHEN ? = 'locked' THEN 0 ELSE in_service END"
        " WHERE device_id = ?",
        (msg.lock, msg.unit_state, msg.battery_pct, msg.battery_mv, msg.signal_dbm,
         msg.interval_s, at, int(msg.unit_state == SERVICE_STATE), msg.lock, msg.device_id))
    if msg.lock == "locked":
        clear_alarms(conn, msg.device_id, LOCKED_CLEARS, now)
    if msg.battery_pct is not None and msg.battery_pct >= BATTERY_CLEAR_PCT:
        clear_alarms(conn, msg.device_id, ("low_battery",), now)


# Writes a heartbeat into its slot (parameters: :func:`heartbeat_slot`); a late heartbeat never
# replaces a newer one. Shared by :func:`record_heartbeat` and the batch writer.
HEARTBEAT_SLOT_SQL = (
    "INSERT INTO fleet_heartbeats(device_id, slot, seq, at, lock_state, unit_state,"
    " battery_pct, battery_mv, signal_dbm) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (device_id, slot) DO UPDATE SET seq = excluded.seq, at = excluded.at,"
    " lock_state = excluded.lock_state, unit_state = excluded.unit_state,"
    " battery_pct = excluded.battery_pct, battery_mv = excluded.battery_mv,"
    " signal_dbm = excluded.signal_dbm WHERE fleet_heartbeats.at <= excluded.at")


def record_heartbeat(conn: sqlite3.Connection, msg: Heartbeat, at: float) -> None:
    """Keep the heartbeat among the vehicle's last :data:`HEARTBEATS_KEPT` (slot ``seq`` modulo
    that number, so a redelivery rewrites its own slot and the rows per vehicle are bounded; a
    late heartbeat never replaces a newer one)."""
    conn.execute(HEARTBEAT_SLOT_SQL, heartbeat_slot(msg, at))


def heartbeat_slot(msg: Heartbeat, at: float) -> tuple[Any, ...]:
    """The parameters of :data:`HEARTBEAT_SLOT_SQL` for ``msg`` sent at ``at``."""
    return (msg.device_id, msg.seq % HEARTBEATS_KEPT, msg.seq, at, msg.lock, msg.unit_state,
            msg.battery_pct, msg.battery_mv, msg.signal_dbm)


def heartbeats(conn: sqlite3.Connection, device_id: str) -> list[dict[str, Any]]:
    """The vehicle's last heartbeats, newest first (times as the unit sent them)."""
    rows = conn.execute("SELECT seq, at, lock_state, unit_state, battery_pct, battery_mv,"
                        " signal_dbm FROM fleet_heartbeats WHERE device_id = ?"
                        " ORDER BY at DESC, seq DESC", (device_id,)).fetchall()
    return [{"seq": int(r["seq"]), "at": float(r["at"]), "lock": r["lock_state"],
             "unit_state": r["unit_state"], "battery_pct": r["battery_pct"],
             "battery_mv": r["battery_mv"], "signal_dbm": r["signal_dbm"]} for r in rows]


def apply_position(conn: sqlite3.Connection, msg: Position, now: float) -> None:
    """The vehicle's last position."""
    ensure_vehicle(conn, msg.device_id, now)
    at = parse_time(msg.sent_at)
    conn.execute(
        "UPDATE fleet_vehicles SET lat = ?, lon = ?, accuracy_m = ?, position_at = ?,"
        " online = 1, last_seen = ? WHERE device_id = ? AND (position_at IS NULL"
        " OR position_at <= ?)",
        (msg.lat, msg.lon, msg.accuracy_m, at, now, msg.device_id, at))


def apply_alarm(conn: sqlite3.Connection, msg: Alarm, now: float) -> None:
    """Open an alarm (once per device, seq and code, however often it is delivered)."""
    ensure_vehicle(conn, msg.device_id, now)
    conn.execute(
        "INSERT INTO fleet_alarms(alarm_id, device_id, code, message, raised_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (alarm_id) DO NOTHING",
        (f"{msg.device_id}:{msg.seq}:{msg.code}", msg.device_id, msg.code, msg.message,
         parse_time(msg.sent_at)))
    if msg.code == "jammed":
        conn.execute("UPDATE fleet_vehicles SET lock_state = 'jammed' WHERE device_id = ?",
                     (msg.device_id,))
    conn.execute("UPDATE fleet_vehicles SET online = 1, last_seen = ? WHERE device_id = ?",
                 (now, msg.device_id))
    record_recent(conn, msg.device_id, "alarm", {"code": msg.code, "message": msg.message}, now)


def clear_alarms(conn: sqlite3.Connection, device_id: str, codes: Iterable[str],
                 now: float, *, by: str = CLEARED_BY_UNIT) -> int:
    """Close the open alarms of ``codes``, recording who (``by``: the unit, or an operator) and
    when; the number closed. An alarm raised again later opens anew (a new row)."""
    closed = 0
    for code in codes:
        cur = conn.execute("UPDATE fleet_alarms SET cleared_at = ?, cleared_by = ?"
                           " WHERE device_id = ? AND code = ? AND cleared_at IS NULL",
                           (now, by, device_id, code))
        closed += int(cur.rowcount or 0)
    return closed


def alarm_history(conn: sqlite3.Connection, device_id: str,
                  limit: int = ALARM_HISTORY) -> list[dict[str, Any]]:
    """The vehicle's last alarms, open and closed, newest first."""
    rows = conn.execute("SELECT code, message, raised_at, cleared_at, cleared_by"
                        " FROM fleet_alarms WHERE device_id = ?"
                        " ORDER BY raised_at DESC, alarm_id DESC LIMIT ?",
                        (device_id, limit)).fetchall()
    return [{"code": r["code"], "message": r["message"], "raised_at": float(r["raised_at"]),
             "cleared_at": None if r["cleared_at"] is None else float(r["cleared_at"]),
             "cleared_by": r["cleared_by"]} for r in rows]


def apply_events(conn: sqlite3.Connection, device_id: str, events: Iterable[Mapping[str, Any]],
                 now: float) -> None:
    """Ride and lock facts from a unit's well-formed events, in the unit's own order, each once.

    The order is the unit's hash chain (``prev_hash``; docs/api.md "Hash chain"), not the
    events' times: two events with the same timestamp apply in the order the unit logged them.
    An event applies only when it comes after the last one applied (its *head*): it names the
    head as its predecessor, or it is not among the head's last :data:`CHAIN_LOOKBACK`
    ancestors (the links :mod:`backend.chain_check` stored, this batch's included, so an event
    that fills a gap is known to be older). Only when the chain cannot tell (a gap not yet
    filled, a chain the unit started afresh, a fork) does ``time|id`` decide. So an older event
    arriving late (a redelivery after a reconnect, a batch sent twice) changes nothing.

    Only vehicles already known (by a status or heartbeat) are tracked.
    """
    row = conn.execute("SELECT last_event_key, event_head FROM fleet_vehicles"
                       " WHERE device_id = ?", (device_id,)).fetchone()
    if row is None:
        return
    last, head = str(row["last_event_key"]), row["event_head"]
    ordered = chain_order(events)
    if not ordered:
        return
    older: set[str] | None = None  # hashes of this batch among the head's ancestors
    for event, own in ordered:
        key = _event_key(event)
        if head is not None and event.get("prev_hash") != head:
            if own == head:
                continue
            if older is None:
                older = _ancestors_among(conn, device_id, head, [h for _, h in ordered])
            if own in older or key <= last:
                continue
        elif head is None and key <= last:
            continue  # applied before the chain was followed
        last, head = key, own
        _apply_event(conn, device_id, event, now)
    conn.execute("UPDATE fleet_vehicles SET last_event_key = ?, event_head = ?"
                 " WHERE device_id = ?", (last, head, device_id))


def chain_order(events: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], str]]:
    """Each distinct event (by id) with its chain hash, predecessors first.

    An event follows the event of the batch its ``prev_hash`` names; events whose predecessor is
    not in the batch start a run, runs in ``time|id`` order."""
    seen: set[Any] = set()
    nodes: list[tuple[Mapping[str, Any], str]] = []
    for event in events:
        if event.get("id") in seen:
            continue
        seen.add(event.get("id"))
        prev = event.get("prev_hash")
        nodes.append((event, chain_hash(event, prev if isinstance(prev, str) else None)))
    hashes = {own for _, own in nodes}
    children: dict[str, list[tuple[Mapping[str, Any], str]]] = {}
    roots: list[tuple[Mapping[str, Any], str]] = []
    for node in nodes:
        prev = node[0].get("prev_hash")
        if isinstance(prev, str) and prev in hashes and prev != node[1]:
            children.setdefault(prev, []).append(node)
        else:
            roots.append(node)
    out: list[tuple[Mapping[str, Any], str]] = []
    stack = sorted(roots, key=lambda n: _event_key(n[0]), reverse=True)
    placed: set[str] = set()
    while stack:
        node = stack.pop()
        if node[1] in placed:
            continue
        placed.add(node[1])
        out.append(node)
        stack.extend(sorted(children.get(node[1], []), key=lambda n: _event_key(n[0]),
                            reverse=True))
    return out


def _ancestors_among(conn: sqlite3.Connection, device_id: str, head: str,
                     hashes: list[str]) -> set[str]:
    """Which of ``hashes`` are ``head`` or among its last :data:`CHAIN_LOOKBACK` ancestors in
    the device's stored chain links (one recursive query on either store)."""
    marks = ", ".join("?" * len(hashes))
    rows = conn.execute(
        "WITH RECURSIVE anc(hash, prev_hash, depth) AS ("
        " SELECT hash, prev_hash, 0 FROM event_links WHERE terminal_id = ? AND hash = ?"
        " UNION ALL SELECT l.hash, l.prev_hash, a.depth + 1 FROM event_links l"
        " JOIN anc a ON l.terminal_id = ? AND l.hash = a.prev_hash WHERE a.depth < ?)"
        f" SELECT DISTINCT hash FROM anc WHERE hash IN ({marks})",
        (device_id, head, device_id, CHAIN_LOOKBACK, *hashes)).fetchall()
    return {str(r[0]) for r in rows}


def _apply_event(conn: sqlite3.Connection, device_id: str, event: Mapping[str, Any],
                 now: float) -> None:
    kind = event.get("type")
    if kind == "ride.started":
        conn.execute("UPDATE fleet_vehicles SET on_trip = 1, in_service = 0"
                     " WHERE device_id = ?", (device_id,))
    elif kind == "ride.ended":
        conn.execute("UPDATE fleet_vehicles SET on_trip = 0, gbfs_id = ?"
                     " WHERE device_id = ?", (new_gbfs_id(), device_id))
    elif kind == "unlock.failed":
        conn.execute(
            "INSERT INTO fleet_alarms(alarm_id, device_id, code, message, raised_at)"
            " VALUES (?, ?, 'unlock_failed', ?, ?) ON CONFLICT (alarm_id) DO NOTHING",
            (f"{device_id}:{event.get('id')}", device_id,
             "The lock did not open after payment.", now))
    else:
        return
    record_recent(conn, device_id, "event", {"type": kind, "id": event.get("id"),
                                             "time": event.get("time")}, now)


def _event_key(event: Mapping[str, Any]) -> str:
    return f"{event.get('time', '')}|{event.get('id', '')}"


def open_alarms(conn: sqlite3.Connection, device_id: str) -> list[dict[str, Any]]:
    """The vehicle's open alarms, oldest first."""
    rows = conn.execute("SELECT code, message, raised_at FROM fleet_alarms WHERE device_id = ?"
                        " AND cleared_at IS NULL ORDER BY raised_at, alarm_id",
                        (device_id,)).fetchall()
    return [{"code": r["code"], "message": r["message"], "raised_at": float(r["raised_at"])}
            for r in rows]


def mds_state(row: Mapping[str, Any], alarm_codes: Iterable[str], now: float) -> str:
    """The MDS 2.0 vehicle state of a ``fleet_vehicles`` row at ``now``."""
    interval = int(row["interval_s"] or DEFAULT_INTERVAL_S)
    last_seen = row["last_seen"]
    if last_seen is None or now - float(last_seen) > STALE_INTERVALS * interval:
        return "unknown"
    if row["on_trip"]:
        return "on_trip"
    if row["in_service"] or row["lock_state"] == "jammed" \
            or DISABLING_ALARMS.intersection(alarm_codes):
        return "non_operational"
    return "available"


def vehicle_rows(conn: sqlite3.Connection, device_id: str | None = None
                 ) -> list[tuple[sqlite3.Row, list[dict[str, Any]]]]:
    """Vehicle rows (one, or all ordered by id) with their open alarms."""
    if device_id is None:
        rows = conn.execute("SELECT * FROM fleet_vehicles ORDER BY device_id").fetchall()
        alarms: dict[str, list[dict[str, Any]]] = {}
        for a in conn.execute("SELECT device_id, code, message, raised_at FROM fleet_alarms"
                              " WHERE cleared_at IS NULL ORDER BY raised_at, alarm_id"):
            alarms.setdefault(a["device_id"], []).append(
                {"code": a["code"], "message": a["message"], "raised_at": float(a["raised_at"])})
        return [(r, alarms.get(r["device_id"], [])) for r in rows]
    row = conn.execute("SELECT * FROM fleet_vehicles WHERE device_id = ?",
                       (device_id,)).fetchone()
    return [] if row is None else [(row, open_alarms(conn, device_id))]


def recent(conn: sqlite3.Connection, device_id: str) -> list[dict[str, Any]]:
    """The vehicle's recent telemetry entries, newest first."""
    rows = conn.execute("SELECT kind, at, body FROM fleet_recent WHERE device_id = ?"
                        " ORDER BY n DESC", (device_id,)).fetchall()
    return [{"kind": r["kind"], "at": float(r["at"]), **json.loads(r["body"])} for r in rows]
