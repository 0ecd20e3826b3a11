"""Fleet messages over MQTT: topics, payloads and command ids shared by units and the back end.

A unit (lock or kiosk; its device id is its terminal id) publishes under
``scanpay/v1/devices/{device_id}/up/{kind}`` and subscribes to
``scanpay/v1/devices/{device_id}/down/command``. Every payload is one JSON object (UTF-8) with
``"v": 1``, ``"device_id"`` and ``"sent_at"`` (RFC 3339 UTC); see docs/api.md, "Fleet".

Pure: no I/O, no clock. :func:`encode` turns a message into bytes, :func:`decode` checks and
parses one kind, :func:`decode_up` checks a payload against the topic it arrived on.
Every malformed input raises :class:`FleetMessageError` naming the field and the problem.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from payments.errors import PaymentsError

VERSION = 1
TOPIC_ROOT = "scanpay/v1/devices"
# Kinds a unit publishes (``up``) and the kind it receives (``down``).
UP_KINDS: tuple[str, ...] = ("status", "heartbeat", "position", "events", "alarm", "ack")
DOWN_KINDS: tuple[str, ...] = ("command",)
# Retained kinds (the broker keeps the last one for new subscribers).
RETAINED_KINDS: frozenset[str] = frozenset({"status"})
# The back end's MQTT user and client id (the bridge); no device may have these ids.
BACKEND_USER = "scanpay-backend"
BRIDGE_CLIENT_ID = "scanpay-backend-bridge"
RESERVED_IDS: frozenset[str] = frozenset({BACKEND_USER, BRIDGE_CLIENT_ID})

LockState = Literal["locked", "unlocked", "jammed", "unknown"]
LOCK_STATES: tuple[str, ...] = ("locked", "unlocked", "jammed", "unknown")
CommandName = Literal["unlock", "lock", "find", "set_interval"]
COMMANDS: tuple[str, ...] = ("unlock", "lock", "find", "set_interval")
AckStatus = Literal["done", "failed", "expired", "refused"]
ACK_STATUSES: tuple[str, ...] = ("done", "failed", "expired", "refused")
# The heartbeat ``unit_state`` of a unit in service: its latch open with no ride (opened by hand,
# or an operator's remote unlock). The back end shows such a vehicle ``non_operational``.
SERVICE_STATE = "service"
# Alarm codes the project raises; any other snake_case code is accepted too.
KNOWN_ALARM_CODES: tuple[str, ...] = ("jammed", "low_battery", "tamper", "unlock_failed",
                                      "lock_timeout")

MAX_EVENTS = 500
MAX_PAYLOAD_BYTES = 1 << 20
MAX_TEXT_CHARS = 256
HEARTBEAT_MIN_S = 10
HEARTBEAT_MAX_S = 3600
MAX_SEQ = 2**63 - 1

# A device id is one MQTT topic level and a mosquitto user name: no '/', '+', '#', ':' or space.
_DEVICE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_COMMAND_ID_RE = re.compile(r"cmd_[0-9a-f]{32}")
_CODE_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class FleetMessageError(PaymentsError):
    """A fleet topic or payload is malformed; the message names the field and the problem."""


# ---------------------------------------------------------------------------------------------
# Ids, times and topics


def valid_device_id(device_id: object) -> bool:
    """Whether ``device_id`` can be a device id (and an MQTT user and topic level)."""
    return (isinstance(device_id, str) and _DEVICE_ID_RE.fullmatch(device_id) is not None
            and device_id not in RESERVED_IDS)


def check_device_id(device_id: object) -> str:
    """``device_id`` if valid, else :class:`FleetMessageError`."""
    if not valid_device_id(device_id):
        raise FleetMessageError(
            f"device_id {device_id!r} is not a device id: 1-64 letters, digits, '_', '.', '-' "
            f"starting with a letter or digit, and not {' or '.join(sorted(RESERVED_IDS))}")
    return str(device_id)


def new_command_id() -> str:
    """A fresh command id: ``cmd_`` + 32 lowercase hex digits."""
    return "cmd_" + secrets.token_hex(16)


def valid_command_id(command_id: object) -> bool:
    """Whether ``command_id`` has the command-id format."""
    return isinstance(command_id, str) and _COMMAND_ID_RE.fullmatch(command_id) is not None


def format_time(ts: float) -> str:
    """Unix seconds as RFC 3339 UTC with milliseconds, e.g. ``2026-11-30T10:00:00.250Z``."""
    when = datetime.fromtimestamp(ts, tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_time(text: object, what: str = "time") -> float:
    """Unix seconds of an RFC 3339 UTC time ending in ``Z``; :class:`FleetMessageError`
    naming ``what`` when malformed."""
    if not isinstance(text, str) or not _TIME_RE.fullmatch(text):
        raise FleetMessageError(f"{what} must be an RFC 3339 UTC time like "
                                f"2026-11-30T10:00:00Z, got {text!r}")
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00").timestamp()
    except ValueError:
        raise FleetMessageError(f"{what} is not a real date and time: {text!r}") from None


def up_topic(device_id: str, kind: str) -> str:
    """The topic a unit publishes ``kind`` on."""
    return _topic(device_id, "up", kind, UP_KINDS)


def down_topic(device_id: str, kind: str = "command") -> str:
    """The topic the back end sends ``kind`` (a command) to ``device_id`` on."""
    return _topic(device_id, "down", kind, DOWN_KINDS)


def up_filter(device_id: str | None = None) -> str:
    """Subscription filter of one device's up topics, or every device's (None)."""
    return _topic(device_id, "up", "#", None)


def down_filter(device_id: str | None = None) -> str:
    """Subscription filter of one device's down topics, or every device's (None)."""
    return _topic(device_id, "down", "#", None)


def _topic(device_id: str | None, direction: str, kind: str,
           kinds: tuple[str, ...] | None) -> str:
    """``TOPIC_ROOT/<device>/<direction>/<kind>``: a topic (``kind`` one of ``kinds``, the
    device id checked), or with ``kinds`` None a filter (device None: every device, ``+``)."""
    if kinds is not None and kind not in kinds:
        raise FleetMessageError(f"unknown {direction} kind {kind!r}; one of {', '.join(kinds)}")
    who = "+" if device_id is None and kinds is None else check_device_id(device_id)
    return f"{TOPIC_ROOT}/{who}/{direction}/{kind}"


@dataclass(frozen=True)
class Topic:
    """A parsed fleet topic."""

    device_id: str
    direction: Literal["up", "down"]
    kind: str


def parse_topic(topic: str) -> Topic:
    """Split a fleet topic; :class:`FleetMessageError` for anything else."""
    parts = topic.split("/") if isinstance(topic, str) else []
    if len(parts) != 6 or "/".join(parts[:3]) != TOPIC_ROOT:
        raise FleetMessageError(f"not a fleet topic: {topic!r} (expected "
                                f"{TOPIC_ROOT}/<device_id>/up|down/<kind>)")
    device_id, direction, kind = parts[3], parts[4], parts[5]
    check_device_id(device_id)
    if direction == "up" and kind in UP_KINDS:
        return Topic(device_id, "up", kind)
    if direction == "down" and kind in DOWN_KINDS:
        return Topic(device_id, "down", kind)
    raise FleetMessageError(f"unknown fleet topic kind {direction}/{kind} in {topic!r}")


# ---------------------------------------------------------------------------------------------
# Messages


@dataclass(frozen=True)
class Status:
    """``up/status`` (retained): online on connect; the last will says offline.

    ``sent_at`` may be None in a last will, which the broker sends later on the unit's behalf.
    """

    device_id: str
    online: bool
    sent_at: str | None = None
    reason: str | None = None
    kind: str = field(default="status", init=False, repr=False)


@dataclass(frozen=True)
class _Sent:
    """What every message but :class:`Status` starts with: the device and the send time."""

    device_id: str
    sent_at: str


@dataclass(frozen=True)
class Heartbeat(_Sent):
    """``up/heartbeat``: lock state, state-machine state, battery, signal, interval.

    ``battery_pct`` is None (JSON null) when the unit has no battery gauge: unknown, never a
    made-up charge."""

    lock: str
    unit_state: str
    battery_pct: int | None
    battery_mv: int | None
    signal_dbm: int | None
    interval_s: int
    seq: int
    kind: str = field(default="heartbeat", init=False, repr=False)


@dataclass(frozen=True)
class Position(_Sent):
    """``up/position``: WGS84 position with its accuracy."""

    lat: float
    lon: float
    accuracy_m: float
    seq: int
    kind: str = field(default="position", init=False, repr=False)


@dataclass(frozen=True)
class Events(_Sent):
    """``up/events``: 1..500 events exactly as in ``POST /v1/events:batch``.

    Only their outer shape (JSON objects) is checked here; the back end checks each event as
    the HTTP route does.
    """

    events: tuple[Mapping[str, Any], ...]
    kind: str = field(default="events", init=False, repr=False)


@dataclass(frozen=True)
class Alarm(_Sent):
    """``up/alarm``: a snake_case code (e.g. ``jammed``) and plain words."""

    code: str
    message: str
    seq: int
    kind: str = field(default="alarm", init=False, repr=False)


@dataclass(frozen=True)
class Command(_Sent):
    """``down/command``: what to do, by when; the unit never runs it after ``deadline``."""

    command_id: str
    command: str
    args: Mapping[str, Any]
    issued_at: str
    deadline: str
    kind: str = field(default="command", init=False, repr=False)

    def expired(self, now: float) -> bool:
        """Whether ``now`` (unix seconds) is past the deadline."""
        return now > parse_time(self.deadline, "deadline")


@dataclass(frozen=True)
class Ack(_Sent):
    """``up/ack``: the outcome of a command and the lock state after it."""

    command_id: str
    status: str
    detail: str
    lock: str
    kind: str = field(default="ack", init=False, repr=False)


Message = Status | Heartbeat | Position | Events | Alarm | Command | Ack
_CLASSES: dict[str, type[Any]] = {"status": Status, "heartbeat": Heartbeat,
                                  "position": Position, "events": Events, "alarm": Alarm,
                                  "command": Command, "ack": Ack}


def make_command(device_id: str, command: str, args: Mapping[str, Any] | None, *, now: float,
                 deadline_s: float, command_id: str | None = None) -> Command:
    """A checked command issued at ``now`` with a deadline ``deadline_s`` seconds later."""
    if not isinstance(deadline_s, int | float) or not 0 < deadline_s <= 86400:
        raise FleetMessageError("deadline_s must be more than 0 and at most 86400 seconds")
    issued = format_time(now)
    msg = Command(device_id=device_id, sent_at=issued, command_id=command_id or new_command_id(),
                  command=command, args=dict(args or {}), issued_at=issued,
                  deadline=format_time(now + deadline_s))
    check(msg)
    return msg


# ---------------------------------------------------------------------------------------------
# Encoding and decoding


def to_json(msg: Message) -> dict[str, Any]:
    """The wire object of a (checked) message."""
    check(msg)
    body: dict[str, Any] = {"v": VERSION, "device_id": msg.device_id}
    if msg.sent_at is not None:
        body["sent_at"] = msg.sent_at
    if isinstance(msg, Status):
        body["online"] = msg.online
        if msg.reason is not None:
            body["reason"] = msg.reason
    elif isinstance(msg, Heartbeat):
        body.update(lock=msg.lock, unit_state=msg.unit_state, battery_pct=msg.battery_pct,
                    battery_mv=msg.battery_mv, signal_dbm=msg.signal_dbm,
                    interval_s=msg.interval_s, seq=msg.seq)
    elif isinstance(msg, Position):
        body.update(lat=msg.lat, lon=msg.lon, accuracy_m=msg.accuracy_m, seq=msg.seq)
    elif isinstance(msg, Events):
        body["events"] = [dict(e) for e in msg.events]
    elif isinstance(msg, Alarm):
        body.update(code=msg.code, message=msg.message, seq=msg.seq)
    elif isinstance(msg, Command):
        body.update(command_id=msg.command_id, command=msg.command, args=dict(msg.args),
                    issued_at=msg.issued_at, deadline=msg.deadline)
    else:
        body.update(command_id=msg.command_id, status=msg.status, detail=msg.detail,
                    lock=msg.lock)
    return body


def encode(msg: Message) -> bytes:
    """The payload bytes of ``msg`` (compact UTF-8 JSON); checks it first."""
    data = json.dumps(to_json(msg), separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")
    _check_size(msg.kind, data)
    return data


def decode(kind: str, payload: bytes | str) -> Message:
    """Parse and check a ``kind`` payload; :class:`FleetMessageError` says what is wrong."""
    if kind not in _CLASSES:
        raise FleetMessageError(f"unknown message kind {kind!r}; one of "
                                f"{', '.join(_CLASSES)}")
    raw = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    _check_size(kind, raw)
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FleetMessageError(f"{kind} payload is not UTF-8 JSON: {exc}") from None
    return from_json(kind, data)


def decode_up(topic: str, payload: bytes | str) -> Message:
    """Parse a message a unit published, checking that the topic is an up topic and that the
    payload's ``device_id`` is the topic's."""
    where = parse_topic(topic)
    if where.direction != "up":
        raise FleetMessageError(f"{topic!r} is not a topic units publish on")
    msg = decode(where.kind, payload)
    if msg.device_id != where.device_id:
        raise FleetMessageError(f"device_id {msg.device_id!r} does not match the topic's "
                                f"{where.device_id!r}")
    return msg


def from_json(kind: str, data: Any) -> Message:
    """A checked message from its parsed JSON object."""
    if kind not in _CLASSES:
        raise FleetMessageError(f"unknown message kind {kind!r}")
    if not isinstance(data, dict):
        raise FleetMessageError(f"{kind} payload must be a JSON object")
    allowed = _FIELDS[kind] | {"v", "device_id", "sent_at"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise FleetMessageError(f"{kind}: unknown field(s) {', '.join(map(repr, unknown))}")
    if data.get("v") != VERSION or isinstance(data.get("v"), bool):
        raise FleetMessageError(f"{kind}: v must be {VERSION}, got {data.get('v')!r}")
    optional = {"sent_at"} if kind == "status" else set()
    optional |= _OPTIONAL.get(kind, set())
    missing = sorted((_FIELDS[kind] | {"device_id", "sent_at"}) - set(data) - optional)
    if missing:
        raise FleetMessageError(f"{kind}: missing field(s) {', '.join(missing)}")
    values = {k: data[k] for k in data if k != "v"}
    if kind == "events" and isinstance(values.get("events"), list):
        values["events"] = tuple(values["events"])
    msg: Message = _CLASSES[kind](**values)
    check(msg)
    return msg


_FIELDS: dict[str, frozenset[str]] = {
    "status": frozenset({"online", "reason"}),
    "heartbeat": frozenset({"lock", "unit_state", "battery_pct", "battery_mv", "signal_dbm",
                            "interval_s", "seq"}),
    "position": frozenset({"lat", "lon", "accuracy_m", "seq"}),
    "events": frozenset({"events"}),
    "alarm": frozenset({"code", "message", "seq"}),
    "command": frozenset({"command_id", "command", "args", "issued_at", "deadline"}),
    "ack": frozenset({"command_id", "status", "detail", "lock"}),
}
_OPTIONAL: dict[str, set[str]] = {"status": {"reason"}}


def _check_size(kind: str, payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise FleetMessageError(f"{kind} payload is {len(payload)} bytes; at most "
                                f"{MAX_PAYLOAD_BYTES}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# ---------------------------------------------------------------------------------------------
# Checks


def check(msg: Message) -> None:
    """Raise :class:`FleetMessageError` when ``msg`` breaks the contract."""
    kind = msg.kind
    check_device_id(msg.device_id)
    if msg.sent_at is not None or not isinstance(msg, Status):
        parse_time(msg.sent_at, f"{kind}.sent_at")
    if isinstance(msg, Status):
        if not isinstance(msg.online, bool):
            raise FleetMessageError("status.online must be true or false")
        if msg.reason is not None:
            _text(msg.reason, "status.reason", empty=False)
    elif isinstance(msg, Heartbeat):
        _choice(msg.lock, LOCK_STATES, "heartbeat.lock")
        _text(msg.unit_state, "heartbeat.unit_state", empty=False, limit=64)
        _int(msg.battery_pct, "heartbeat.battery_pct", 0, 100, optional=True)
        _int(msg.battery_mv, "heartbeat.battery_mv", 0, 100_000, optional=True)
        _int(msg.signal_dbm, "heartbeat.signal_dbm", -200, 0, optional=True)
        _int(msg.interval_s, "heartbeat.interval_s", 1, 86_400)
        _seq(msg)
    elif isinstance(msg, Position):
        _float(msg.lat, "position.lat", -90.0, 90.0)
        _float(msg.lon, "position.lon", -180.0, 180.0)
        _float(msg.accuracy_m, "position.accuracy_m", 0.0, 1e7)
        _seq(msg)
    elif isinstance(msg, Events):
        events = msg.events
        if not isinstance(events, tuple | list) or not 1 <= len(events) <= MAX_EVENTS:
            raise FleetMessageError(f"events.events must be a list of 1..{MAX_EVENTS} events")
        for i, event in enumerate(events):
            if not isinstance(event, Mapping):
                raise FleetMessageError(f"events.events[{i}] must be a JSON object")
    elif isinstance(msg, Alarm):
        if not isinstance(msg.code, str) or not _CODE_RE.fullmatch(msg.code):
            raise FleetMessageError(f"alarm.code must be a snake_case code such as "
                                    f"{', '.join(KNOWN_ALARM_CODES)}; got {msg.code!r}")
        _text(msg.message, "alarm.message", empty=False)
        _seq(msg)
    elif isinstance(msg, Command):
        _command_id(msg.command_id, "command.command_id")
        _choice(msg.command, COMMANDS, "command.command")
        check_args(msg.command, msg.args)
        issued = parse_time(msg.issued_at, "command.issued_at")
        if parse_time(msg.deadline, "command.deadline") <= issued:
            raise FleetMessageError("command.deadline must be after command.issued_at")
    elif isinstance(msg, Ack):
        _command_id(msg.command_id, "ack.command_id")
        _choice(msg.status, ACK_STATUSES, "ack.status")
        _text(msg.detail, "ack.detail", empty=True)
        _choice(msg.lock, LOCK_STATES, "ack.lock")
    else:  # pragma: no cover - the type union is closed
        raise FleetMessageError(f"not a fleet message: {msg!r}")


def check_args(command: str, args: object) -> dict[str, Any]:
    """The checked ``args`` of ``command``: ``set_interval`` takes ``{"heartbeat_s":
    10..3600}``, the others take none."""
    if not isinstance(args, Mapping):
        raise FleetMessageError("command.args must be a JSON object")
    if command == "set_interval":
        if set(args) != {"heartbeat_s"}:
            raise FleetMessageError("set_interval takes args {\"heartbeat_s\": "
                                    f"{HEARTBEAT_MIN_S}..{HEARTBEAT_MAX_S}}} and nothing else")
        _int(args["heartbeat_s"], "command.args.heartbeat_s", HEARTBEAT_MIN_S, HEARTBEAT_MAX_S)
    elif args:
        raise FleetMessageError(f"{command} takes no args, got {', '.join(map(str, args))}")
    return dict(args)


def _command_id(value: object, what: str) -> None:
    if not valid_command_id(value):
        raise FleetMessageError(f"{what} must be 'cmd_' and 32 lowercase hex digits, "
                                f"got {value!r}")


def _choice(value: object, choices: tuple[str, ...], what: str) -> None:
    if value not in choices or not isinstance(value, str):
        raise FleetMessageError(f"{what} must be one of {', '.join(choices)}; got {value!r}")


def _seq(msg: Heartbeat | Position | Alarm) -> None:
    _int(msg.seq, f"{msg.kind}.seq", 0, MAX_SEQ)


def _int(value: object, what: str, low: int, high: int, *, optional: bool = False) -> None:
    """An integer ``low..high`` (``optional``: or None, JSON null)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FleetMessageError(f"{what} must be an integer {low}..{high}; got {value!r}")


def _float(value: object, what: str, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not low <= value <= high:
        raise FleetMessageError(f"{what} must be a number {low:g}..{high:g}; got {value!r}")


def _text(value: object, what: str, *, empty: bool, limit: int = MAX_TEXT_CHARS) -> None:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise FleetMessageError(f"{what} must be {'' if empty else 'non-empty '}text of at most "
                                f"{limit} characters")
    if _CONTROL_RE.search(value):
        raise FleetMessageError(f"{what} must not hold control characters")
