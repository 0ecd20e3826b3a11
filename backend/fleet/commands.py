"""Remote commands: issued with a deadline and an idempotent command id, published by the
bridge, acknowledged by the unit, or timed out.

Status of a command: ``sent`` (issued; the bridge publishes it), then the unit's answer
(``done``, ``failed``, ``expired``: it arrived after the deadline, ``refused``: e.g. unlock
during a ride), or ``timed_out`` when no answer came within :data:`ACK_GRACE_S` after the
deadline (or the bridge could not publish it before the deadline). A late answer still replaces
``timed_out``: the unit's word is the truth. Only the first answer counts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from backend.fleet import state
from payments.fleet_messages import Ack, Command, format_time, make_command

# Seconds after a deadline before a command without an answer is `timed_out`.
ACK_GRACE_S = 5.0
DEFAULT_DEADLINE_S = 30.0
MAX_DEADLINE_S = 3600.0
STATUSES: tuple[str, ...] = ("sent", "done", "failed", "expired", "refused", "timed_out")

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS fleet_commands (
    command_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    command TEXT NOT NULL,
    args TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at REAL NOT NULL,
    deadline REAL NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    lock_state TEXT,
    published_at REAL,
    answered_at REAL
);
CREATE INDEX IF NOT EXISTS fleet_commands_pending ON fleet_commands(status, published_at);
CREATE INDEX IF NOT EXISTS fleet_commands_by_device ON fleet_commands(device_id, issued_at);
"""


def issue(conn: sqlite3.Connection, device_id: str, command: str, args: Mapping[str, Any],
          *, deadline_s: float, issued_by: str, now: float) -> Command:
    """Record a new command (status ``sent``); the bridge publishes it. Raises
    :class:`~payments.fleet_messages.FleetMessageError` for a bad command or args."""
    msg = make_command(device_id, command, args, now=now, deadline_s=deadline_s)
    conn.execute(
        "INSERT INTO fleet_commands(command_id, device_id, command, args, issued_by, issued_at,"
        " deadline, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'sent')",
        (msg.command_id, device_id, command, json.dumps(dict(msg.args), sort_keys=True),
         issued_by, now, now + deadline_s))
    return msg


def message_of(row: Mapping[str, Any]) -> Command:
    """The wire command of a ``fleet_commands`` row."""
    issued = format_time(float(row["issued_at"]))
    return Command(device_id=row["device_id"], sent_at=issued, command_id=row["command_id"],
                   command=row["command"], args=json.loads(row["args"]), issued_at=issued,
                   deadline=format_time(float(row["deadline"])))


def to_publish(conn: sqlite3.Connection, now: float, limit: int = 500) -> list[Command]:
    """Commands still to publish whose deadline has not passed; those past it become
    ``timed_out`` (never published)."""
    conn.execute("UPDATE fleet_commands SET status = 'timed_out', detail = ?, answered_at = ?"
                 " WHERE status = 'sent' AND published_at IS NULL AND deadline < ?",
                 ("not delivered to the broker before the deadline", now, now))
    rows = conn.execute("SELECT * FROM fleet_commands WHERE status = 'sent' AND published_at"
                        " IS NULL ORDER BY issued_at LIMIT ?", (limit,)).fetchall()
    return [message_of(r) for r in rows]


def mark_published(conn: sqlite3.Connection, command_id: str, now: float) -> None:
    """The broker took the command (PUBACK)."""
    conn.execute("UPDATE fleet_commands SET published_at = ? WHERE command_id = ?"
                 " AND published_at IS NULL", (now, command_id))


def time_out(conn: sqlite3.Connection, now: float) -> int:
    """Mark published commands unanswered :data:`ACK_GRACE_S` past their deadline
    ``timed_out``; the number marked."""
    cur = conn.execute(
        "UPDATE fleet_commands SET status = 'timed_out', detail = ?, answered_at = ?"
        " WHERE status = 'sent' AND deadline < ?",
        ("no answer from the unit by the deadline", now, now - ACK_GRACE_S))
    return int(cur.rowcount or 0)


def apply_ack(conn: sqlite3.Connection, msg: Ack, now: float) -> bool:
    """Record the unit's answer (the first one; a late answer replaces ``timed_out``) and its
    effect on the vehicle; False for an unknown command or another device's."""
    row = conn.execute("SELECT * FROM fleet_commands WHERE command_id = ? AND device_id = ?",
                       (msg.command_id, msg.device_id)).fetchone()
    if row is None or row["status"] not in ("sent", "timed_out"):
        return False
    conn.execute("UPDATE fleet_commands SET status = ?, detail = ?, lock_state = ?,"
                 " answered_at = ? WHERE command_id = ?",
                 (msg.status, msg.detail, msg.lock, now, msg.command_id))
    state.ensure_vehicle(conn, msg.device_id, now)
    conn.execute("UPDATE fleet_vehicles SET lock_state = ?, online = 1, last_seen = ?"
                 " WHERE device_id = ?", (msg.lock, now, msg.device_id))
    if msg.status == "done":
        if row["command"] == "unlock":  # a service unlock: out of operation until locked
            conn.execute("UPDATE fleet_vehicles SET in_service = 1 WHERE device_id = ?",
                         (msg.device_id,))
        elif row["command"] == "lock":
            conn.execute("UPDATE fleet_vehicles SET in_service = 0 WHERE device_id = ?",
                         (msg.device_id,))
        elif row["command"] == "set_interval":
            conn.execute("UPDATE fleet_vehicles SET interval_s = ? WHERE device_id = ?",
                         (int(json.loads(row["args"])["heartbeat_s"]), msg.device_id))
    state.record_recent(conn, msg.device_id, "ack",
                        {"command_id": msg.command_id, "command": row["command"],
                         "status": msg.status, "detail": msg.detail}, now)
    return True


def status_of(conn: sqlite3.Connection, command_id: str) -> dict[str, Any] | None:
    """The command's status body, or None when unknown."""
    row = conn.execute("SELECT * FROM fleet_commands WHERE command_id = ?",
                       (command_id,)).fetchone()
    return None if row is None else body_of(row)


def body_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API body of a ``fleet_commands`` row."""
    return {"command_id": row["command_id"], "device_id": row["device_id"],
            "command": row["command"], "args": json.loads(row["args"]),
            "status": row["status"], "detail": row["detail"], "lock": row["lock_state"],
            "issued_by": row["issued_by"], "issued_at": format_time(float(row["issued_at"])),
            "deadline": format_time(float(row["deadline"])),
            "published_at": _time(row["published_at"]),
            "answered_at": _time(row["answered_at"])}


def recent_for(conn: sqlite3.Connection, device_id: str, limit: int = 20
               ) -> list[dict[str, Any]]:
    """The vehicle's last commands, newest first."""
    rows = conn.execute("SELECT * FROM fleet_commands WHERE device_id = ? ORDER BY issued_at"
                        " DESC LIMIT ?", (device_id, limit)).fetchall()
    return [body_of(r) for r in rows]


def _time(value: Any) -> str | None:
    return None if value is None else format_time(float(value))

