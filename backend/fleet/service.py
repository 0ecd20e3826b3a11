"""What the fleet routes and the operator console call: list, detail, send a command, status,
dead letters.

Each function takes the :class:`~backend.context.Backend` (its store and clock) and returns the
JSON body of docs/api.md, "Fleet"; errors are :class:`~backend.errors.ApiError` (``404
unknown_vehicle``, ``404 unknown_command``, ``400 invalid_command``, ``400 invalid_alarm``,
``409 alarm_not_open``).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Mapping
from typing import Any

from backend.context import Backend
from backend.errors import ApiError
from backend.fleet import commands, dead_letters, state
from payments.fleet_messages import FleetMessageError, format_time

# Bridges running in this process, woken when a command is issued (keyed by store identity).
_WAKERS: dict[int, Callable[[], None]] = {}
_WAKERS_LOCK = threading.Lock()
# An alarm code as units send them (payments.fleet_messages: snake_case, at most 32).
_ALARM_CODE_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")


def register_waker(backend: Backend, wake: Callable[[], None] | None) -> None:
    """Let the bridge of ``backend`` be woken at once when a command is issued (None: stop)."""
    with _WAKERS_LOCK:
        if wake is None:
            _WAKERS.pop(id(backend.store), None)
        else:
            _WAKERS[id(backend.store)] = wake


def wake_bridge(backend: Backend) -> None:
    """Wake this process's bridge, if any (otherwise a bridge elsewhere polls within ~0.2 s)."""
    with _WAKERS_LOCK:
        wake = _WAKERS.get(id(backend.store))
    if wake is not None:
        wake()


def vehicle_summary(row: Mapping[str, Any], alarms: list[dict[str, Any]],
                    now: float) -> dict[str, Any]:
    """One vehicle in the list: state, lock, battery, signal, position, online, last seen."""
    last_seen = row["last_seen"]
    return {
        "device_id": row["device_id"],
        "state": state.mds_state(row, (a["code"] for a in alarms), now),
        "lock": row["lock_state"],
        "unit_state": row["unit_state"],
        "battery_pct": row["battery_pct"],
        "battery_mv": row["battery_mv"],
        "signal_dbm": row["signal_dbm"],
        "interval_s": row["interval_s"],
        "lat": row["lat"], "lon": row["lon"], "accuracy_m": row["accuracy_m"],
        "online": bool(row["online"]),
        "last_seen": None if last_seen is None else format_time(float(last_seen)),
        "alarms": [{"code": a["code"], "message": a["message"],
                    "raised_at": format_time(a["raised_at"])} for a in alarms],
    }


def list_vehicles(backend: Backend, mds_state: str | None = None) -> dict[str, Any]:
    """``{"vehicles": [...], "as_of"}``, ordered by device id; ``mds_state`` filters."""
    if mds_state is not None and mds_state not in state.MDS_STATES:
        raise ApiError(400, "invalid_state",
                       f"state must be one of {', '.join(state.MDS_STATES)}")
    now = backend.now()
    with backend.store.read() as conn:
        rows = state.vehicle_rows(conn)
    vehicles = [vehicle_summary(r, a, now) for r, a in rows]
    if mds_state is not None:
        vehicles = [v for v in vehicles if v["state"] == mds_state]
    return {"vehicles": vehicles, "as_of": format_time(now)}


def vehicle_detail(backend: Backend, device_id: str) -> dict[str, Any]:
    """The vehicle with its recent telemetry, events and commands; ``404 unknown_vehicle``."""
    now = backend.now()
    with backend.store.read() as conn:
        rows = state.vehicle_rows(conn, device_id)
        if not rows:
            raise ApiError(404, "unknown_vehicle", f"no vehicle {device_id!r} has reported")
        body = vehicle_summary(*rows[0], now)
        body["recent"] = state.recent(conn, device_id)
        body["heartbeats"] = [{**h, "at": format_time(h["at"])}
                              for h in state.heartbeats(conn, device_id)]
        body["alarm_history"] = [_alarm_body(a) for a in state.alarm_history(conn, device_id)]
        body["events"] = _recent_events(conn, device_id)
        body["commands"] = commands.recent_for(conn, device_id)
    return body


def _alarm_body(alarm: Mapping[str, Any]) -> dict[str, Any]:
    cleared = alarm["cleared_at"]
    return {"code": alarm["code"], "message": alarm["message"],
            "raised_at": format_time(alarm["raised_at"]), "open": cleared is None,
            "cleared_at": None if cleared is None else format_time(cleared),
            "cleared_by": alarm["cleared_by"]}


def clear_alarm(conn: sqlite3.Connection, device_id: str, code: str, *, cleared_by: str,
                now: float) -> dict[str, Any]:
    """Close the vehicle's open alarms of ``code`` on an operator's word, inside an open
    transaction; the ``200`` body. ``404 unknown_vehicle``, ``400 invalid_alarm``,
    ``409 alarm_not_open``. The same alarm raised again afterwards opens anew."""
    if not _ALARM_CODE_RE.fullmatch(code):
        raise ApiError(400, "invalid_alarm", "an alarm code is snake_case, at most 32 characters")
    if conn.execute("SELECT 1 FROM fleet_vehicles WHERE device_id = ?",
                    (device_id,)).fetchone() is None:
        raise ApiError(404, "unknown_vehicle", f"no vehicle {device_id!r} has reported")
    closed = state.clear_alarms(conn, device_id, (code,), now, by=cleared_by)
    if not closed:
        raise ApiError(409, "alarm_not_open", f"vehicle {device_id!r} has no open {code!r} alarm")
    state.record_recent(conn, device_id, "alarm_cleared", {"code": code, "by": cleared_by},
                        now)
    row, alarms = state.vehicle_rows(conn, device_id)[0]
    return {"device_id": device_id, "code": code, "cleared": closed,
            "cleared_at": format_time(now), "cleared_by": cleared_by,
            "state": state.mds_state(row, (a["code"] for a in alarms), now),
            "alarms": vehicle_summary(row, alarms, now)["alarms"]}


def clear_alarm_now(backend: Backend, device_id: str, code: str, *,
                    cleared_by: str) -> dict[str, Any]:
    """:func:`clear_alarm` in its own transaction (the console's Clear button)."""
    with backend.store.transaction() as conn:
        return clear_alarm(conn, device_id, code, cleared_by=cleared_by, now=backend.now())


def _recent_events(conn: sqlite3.Connection, device_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT event_id, type, time, subject_id FROM events"
                        " WHERE terminal_id = ? ORDER BY time DESC LIMIT 20",
                        (device_id,)).fetchall()
    return [{"id": r["event_id"], "type": r["type"], "time": r["time"],
             "subject_id": r["subject_id"]} for r in rows]


def issue_command(conn: sqlite3.Connection, device_id: str, command: str,
                  args: Mapping[str, Any] | None, deadline_s: float | None, *,
                  issued_by: str, now: float) -> dict[str, Any]:
    """Issue a command inside an open transaction; the ``202`` body. Call
    :func:`wake_bridge` after the transaction commits."""
    if conn.execute("SELECT 1 FROM fleet_vehicles WHERE device_id = ?",
                    (device_id,)).fetchone() is None:
        raise ApiError(404, "unknown_vehicle", f"no vehicle {device_id!r} has reported")
    deadline = commands.DEFAULT_DEADLINE_S if deadline_s is None else deadline_s
    if not 1 <= deadline <= commands.MAX_DEADLINE_S:
        raise ApiError(400, "invalid_command",
                       f"deadline_s must be 1..{commands.MAX_DEADLINE_S:g} seconds")
    try:
        msg = commands.issue(conn, device_id, command, args or {}, deadline_s=deadline,
                             issued_by=issued_by, now=now)
    except FleetMessageError as exc:
        raise ApiError(400, "invalid_command", str(exc)) from None
    return {"command_id": msg.command_id, "status": "sent", "device_id": device_id,
            "command": msg.command, "args": dict(msg.args), "issued_at": msg.issued_at,
            "deadline": msg.deadline}


def send_command(backend: Backend, device_id: str, command: str,
                 args: Mapping[str, Any] | None = None, deadline_s: float | None = None, *,
                 issued_by: str) -> dict[str, Any]:
    """Issue a command in its own transaction and wake the bridge; the ``202`` body."""
    with backend.store.transaction() as conn:
        body = issue_command(conn, device_id, command, args, deadline_s, issued_by=issued_by,
                             now=backend.now())
    wake_bridge(backend)
    return body


def command_status(backend: Backend, command_id: str) -> dict[str, Any]:
    """The command's status (``sent`` past its deadline and grace reads ``timed_out``);
    ``404 unknown_command``."""
    with backend.store.transaction() as conn:
        commands.time_out(conn, backend.now())
        body = commands.status_of(conn, command_id)
    if body is None:
        raise ApiError(404, "unknown_command", "no such command")
    return body


def dead_letter_list(backend: Backend, limit: int = 100) -> dict[str, Any]:
    """``{"count", "dead_letters"}``: the messages the bridge quarantined, newest first."""
    with backend.store.read() as conn:
        return {"count": dead_letters.count(conn),
                "dead_letters": dead_letters.recent(conn, limit)}


def dead_letter_count(backend: Backend) -> int:
    """How many messages the bridge quarantined (the console shows it on the fleet list)."""
    with backend.store.read() as conn:
        return dead_letters.count(conn)
