"""The fleet as the console shows it: calls :mod:`backend.fleet.service` and shapes its answers
into plain rows for the templates (missing values stay None, never invented)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backend.console.service_calls import ServiceProblem, load_service
from backend.context import Backend
from backend.errors import ApiError

MDS_STATES: tuple[str, ...] = ("available", "reserved", "on_trip", "non_operational", "removed",
                               "unknown")
# The commands the console offers (their button words are "unit.cmd_<command>").
COMMANDS: tuple[str, ...] = ("unlock", "lock", "find")
# How long a unit has to act on a console command before it must not (the command's deadline).
DEADLINE_S = 60
# Telemetry fields shown per entry, in this order (the rest of an entry is left out).
TELEMETRY_FIELDS = ("type", "id", "command", "status", "detail", "lock", "unit_state",
                     "battery_pct", "battery_mv", "signal_dbm", "interval_s", "lat", "lon",
                     "accuracy_m", "online", "reason", "code", "message", "seq")
# The kinds of telemetry the fleet keeps (backend/fleet), each said by ``kind.<name>``.
TELEMETRY_KINDS: tuple[str, ...] = ("status", "alarm", "alarm_cleared", "ack", "event")


# What the back end itself writes as a command's detail when it closes the command (see
# backend/fleet/commands.py), by the message id the console shows instead. Any other detail is
# the unit's own note, shown as the unit wrote it.
BACKEND_DETAILS: dict[str, str] = {
    "not delivered to the broker before the deadline": "detail.not_delivered",
    "no answer from the unit by the deadline": "detail.no_answer",
}


class FleetProblem(ServiceProblem):
    """The fleet service refused or is unavailable; ``status`` is the HTTP status to show,
    ``code`` the service's error code (its words are ``service.<code>`` in texts.toml)."""

    default_code = "fleet_error"


def _service() -> Any:
    return load_service("backend.fleet.service",
                        FleetProblem(503, "the fleet service is not part of this back end",
                                     "fleet_missing"))


def vehicles(backend: Backend, state: str | None) -> list[dict[str, Any]]:
    """The fleet list (optionally only vehicles in MDS ``state``), one row per unit."""
    try:
        body = _service().list_vehicles(backend, state)
    except ApiError as exc:
        raise FleetProblem.of(exc) from None
    return [_row(v) for v in body["vehicles"]]


def dead_letter_count(backend: Backend) -> int | None:
    """How many unit messages the bridge quarantined (None when the fleet service cannot
    tell)."""
    try:
        return int(_service().dead_letter_count(backend))
    except (FleetProblem, AttributeError):
        return None


def vehicle(backend: Backend, device_id: str) -> dict[str, Any] | None:
    """One unit with its alarms, recent events, telemetry and commands; None when unknown."""
    body = _known_or_none(_service().vehicle_detail, backend, device_id)
    if body is None:
        return None
    view = _row(body)
    view.update({
        "lock": body.get("lock"), "signal_dbm": body.get("signal_dbm"),
        "lat": body.get("lat"), "lon": body.get("lon"),
        "alarms": [{"time": a.get("raised_at"), "code": a.get("code", ""),
                    "message": a.get("message", ""), "open": bool(a.get("open")),
                    "cleared_at": a.get("cleared_at"), "cleared_by": a.get("cleared_by")}
                   for a in body.get("alarm_history", [])],
        "events": [{"time": e.get("time"), "type": e.get("type", ""),
                    "detail": " ".join(x for x in (e.get("id", ""),
                                                   e.get("subject_id") or "") if x)}
                   for e in body.get("events", [])],
        "telemetry": [_telemetry(t) for t in body.get("recent", [])[:20]],
        "commands": [_command(c) for c in body.get("commands", [])],
        "heartbeats": [{"time": h.get("at"), "battery_pct": h.get("battery_pct"),
                        "battery_mv": h.get("battery_mv"), "signal_dbm": h.get("signal_dbm"),
                        "lock": h.get("lock")} for h in body.get("heartbeats", [])],
    })
    view["battery_line"] = battery_line([h["battery_pct"] for h in view["heartbeats"]])
    return view


def battery_line(newest_first: list[Any], width: int = 200, height: int = 40) -> str:
    """SVG polyline points of battery percentages, oldest on the left ('' for fewer than 2)."""
    values = [v for v in reversed(newest_first) if isinstance(v, int)]
    if len(values) < 2:
        return ""
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - height * v / 100:.1f}"
                    for i, v in enumerate(values))


def send(backend: Backend, device_id: str, command: str, operator_id: str) -> dict[str, Any]:
    """Send ``command`` (unlock, lock or find) to a unit on behalf of an operator."""
    if command not in COMMANDS:
        raise FleetProblem(400, f"the console sends {', '.join(COMMANDS)} only", "bad_command")
    try:
        body = _service().send_command(backend, device_id, command, {}, DEADLINE_S,
                                       issued_by=f"console:{operator_id}")
    except ApiError as exc:
        raise FleetProblem.of(exc) from None
    return _command(body)


def clear_alarm(backend: Backend, device_id: str, code: str, operator_id: str
                ) -> dict[str, Any]:
    """Close a unit's open ``code`` alarm on behalf of an operator (who and when recorded)."""
    try:
        return _service().clear_alarm_now(backend, device_id, code,
                                          cleared_by=f"console:{operator_id}")
    except ApiError as exc:
        raise FleetProblem.of(exc) from None


def command(backend: Backend, command_id: str) -> dict[str, Any] | None:
    """A command's status (sent, done, failed, expired, refused, timed_out); None if unknown."""
    body = _known_or_none(_service().command_status, backend, command_id)
    return None if body is None else _command(body)


def _known_or_none(call: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any] | None:
    """The service's answer to ``call(*args)``; None when it does not know the thing asked
    about (404), FleetProblem for any other refusal."""
    try:
        return call(*args)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise FleetProblem.of(exc) from None


def _row(v: dict[str, Any]) -> dict[str, Any]:
    return {"device_id": v["device_id"], "state": v.get("state", "unknown"),
            "battery_pct": v.get("battery_pct"), "last_seen": v.get("last_seen"),
            "online": v.get("online"),
            "open_alarms": [a.get("code", "") for a in v.get("alarms", [])]}


def _command(c: dict[str, Any]) -> dict[str, Any]:
    detail = c.get("detail") or ""
    return {"command_id": c["command_id"], "device_id": c.get("device_id"),
            "command": c.get("command", ""), "status": c.get("status", "sent"),
            "detail": detail, "detail_id": BACKEND_DETAILS.get(detail, ""),
            "issued_at": c.get("issued_at"), "lock": c.get("lock")}


def _telemetry(entry: dict[str, Any]) -> dict[str, Any]:
    """A telemetry entry as a row; an alarm's message is kept apart (``alarm``, ``message``) so
    the page can say it by its code."""
    alarm = str(entry.get("code") or "") if entry.get("kind") == "alarm" else ""
    skip = ("code", "message") if alarm else ()
    return {"time": entry.get("at"), "kind": entry.get("kind", ""), "alarm": alarm,
            "message": str(entry.get("message") or ""), "fields": _fields(entry, skip)}


def _fields(entry: dict[str, Any], skip: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """The entry's known fields in a fixed order, as (name, value): the page says each name
    (``field.<name>``) and a true or false value in the reader's language."""
    return [(name, entry[name]) for name in TELEMETRY_FIELDS
            if entry.get(name) is not None and name not in skip]
