"""Emulated lock units for ``scanpay bench fleet``: thousands of them on one asyncio loop.

Each :class:`SimUnit` has its own device id, API key, MQTT credentials and MQTT connection
(:mod:`terminal.bench.fleet_mqtt`). It publishes ``status`` (retained, with a last will),
heartbeats and positions at its interval, answers ``down/command`` with an ``up/ack`` per the
fleet contract (a command id seen before is never run again; its first ack is re-sent; past its
deadline it is ``expired``; an unlock during a ride is ``refused``), and rides when asked:
payment-code resolve and deposit hold over HTTP, ``ride.started`` / ``deposit.held`` events over
MQTT, the ride, the fare charge and the deposit release over HTTP, then ``ride.ended`` /
``payment.captured`` / ``deposit.released`` over MQTT. Events carry the terminal's hash chain
like the real outbox does, and a batch counts as delivered only after the broker's PUBACK; a
batch whose PUBACK never came is sent again after reconnecting (the back end counts the copy as
a duplicate and stores it once).

What happens is written to one shared :class:`FleetRecord` (wall-clock times, so the back end's
stored ``received_at`` can be compared with them on the same machine).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from terminal.bench.fleet_mqtt import Message, MqttClient, MqttError, Will
from terminal.errors import TerminalError

HTTP_ATTEMPTS = 5
# A unit gives up reconnecting after this many tries (about 6 minutes with the back-off).
RECONNECT_ATTEMPTS = 40


@dataclass(frozen=True)
class UnitPlan:
    """How each unit behaves."""

    heartbeat_s: float = 30.0
    # A position with every n-th heartbeat (0: never).
    position_every: int = 1
    ride_s: tuple[float, float] = (5.0, 15.0)
    deposit_minor: int = 19_900
    fare_minor: int = 300
    currency: str = "CNY"
    keepalive_s: int = 120
    # Centre of the simulated fleet (WGS84) and its spread in degrees.
    centre: tuple[float, float] = (31.2304, 121.4737)
    spread_deg: float = 0.05


@dataclass
class FleetRecord:
    """What the simulated fleet did, for the report (times are wall-clock unix seconds)."""

    # Event id -> when its batch was first published (its sent_at).
    events_sent: dict[str, float] = field(default_factory=dict)
    event_batches: int = 0
    batches_resent: int = 0
    heartbeats: int = 0
    positions: int = 0
    # Command id -> when the unit received it / when the broker took its ack.
    commands_received: dict[str, float] = field(default_factory=dict)
    acks_published: dict[str, float] = field(default_factory=dict)
    ack_status: dict[str, str] = field(default_factory=dict)
    commands_repeated: int = 0
    rides_started: int = 0
    rides_completed: int = 0
    rides_failed: int = 0
    ride_errors: dict[str, int] = field(default_factory=dict)
    http_latency_s: dict[str, list[float]] = field(default_factory=dict)
    reconnects: int = 0
    # Reconnections on which the broker had no session of the unit any more.
    sessions_lost: int = 0
    connect_failures: int = 0
    mqtt_errors: int = 0

    def http_took(self, kind: str, seconds: float) -> None:
        """Record one HTTP call's latency."""
        self.http_latency_s.setdefault(kind, []).append(seconds)

    def ride_failed(self, reason: str) -> None:
        """Count a ride that could not complete, by reason."""
        self.rides_failed += 1
        self.ride_errors[reason] = self.ride_errors.get(reason, 0) + 1


class HttpError(TerminalError):
    """An HTTP call of a simulated unit failed for good."""


class HttpPool:
    """A few keep-alive HTTP/1.1 connections to the back end shared by every unit (a real
    fleet has one per unit; the back end's cost per request is the same).

    Last used, first reused; a connection idle for longer than the server keeps one open
    (uvicorn: 5 s) is reopened rather than found closed mid-request.
    """

    IDLE_S = 4.0

    def __init__(self, port: int, size: int) -> None:
        from terminal.bench.load import _Connection

        self._free: list[tuple[float, Any]] = [(0.0, _Connection(port)) for _ in range(size)]
        self._slots = asyncio.Semaphore(size)

    async def call(self, method: str, path: str, key: str, body: Mapping[str, Any] | None = None,
                   *, idempotency_key: str | None = None) -> tuple[int, dict[str, Any]]:
        """One call, retried with the same idempotency key on connection errors and 5xx."""
        headers = {"Authorization": f"Bearer {key}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        data = json.dumps(body).encode() if body is not None else b""
        problem = "no attempt"
        for attempt in range(HTTP_ATTEMPTS):
            async with self._slots:
                last_used, conn = self._free.pop()
                if time.monotonic() - last_used > self.IDLE_S:
                    conn.close()
                try:
                    status, raw = await conn.request(method, path, headers, data)
                except (OSError, asyncio.IncompleteReadError, IndexError, ValueError) as exc:
                    conn.close()
                    problem = f"connection: {exc or type(exc).__name__}"
                    status, raw = 0, b""
                finally:
                    self._free.append((time.monotonic(), conn))
            if status and status < 500 and status != 429:
                return status, json.loads(raw) if raw else {}
            problem = problem if not status else f"HTTP {status}"
            if idempotency_key is None and method != "GET":
                break
            await asyncio.sleep(0.2 * 2 ** attempt)  # back-off before a retry
        raise HttpError(f"{method} {path}: {problem}")

    def close(self) -> None:
        """Close every connection."""
        for _, conn in self._free:
            conn.close()


def _fmt(ts: float) -> str:
    from payments.fleet_messages import format_time

    return format_time(ts)


class SimUnit:
    """One emulated lock unit."""

    def __init__(self, device_id: str, *, api_key: str, mqtt_password: str, broker: tuple[str, int],
                 http: HttpPool, record: FleetRecord, plan: UnitPlan, rng: random.Random,
                 issue_code: Callable[[str], str], riders: list[str],
                 wall: Callable[[], float] = time.time) -> None:
        from payments.fleet_messages import up_topic

        self.device_id = device_id
        self.api_key = api_key
        self.http = http
        self.record = record
        self.plan = plan
        self.rng = rng
        self.issue_code = issue_code
        self.riders = riders
        self.wall = wall
        self.lock = "locked"
        self.state = "idle"  # idle | riding | in_service
        self.busy = False  # a ride or a service command is under way
        self.interval_s = plan.heartbeat_s
        self.seq = 0
        self.prev_hash: str | None = None
        self.first_acks: dict[str, bytes] = {}
        self.lat = plan.centre[0] + rng.uniform(-plan.spread_deg, plan.spread_deg)
        self.lon = plan.centre[1] + rng.uniform(-plan.spread_deg, plan.spread_deg)
        self.battery = rng.randint(40, 100)
        self._topics = {kind: up_topic(device_id, kind) for kind in
                        ("status", "heartbeat", "position", "events", "ack")}
        will = json.dumps({"v": 1, "device_id": device_id, "online": False,
                           "reason": "connection_lost"}, separators=(",", ":")).encode()
        # Any packet keeps the session alive; heartbeats come well within the keep-alive.
        keepalive = min(65_535, max(plan.keepalive_s, int(plan.heartbeat_s * 2) + 10))
        self.mqtt = MqttClient(device_id, host=broker[0], port=broker[1], username=device_id,
                               password=mqtt_password, keepalive_s=keepalive,
                               clean_session=False, will=Will(self._topics["status"], will),
                               on_message=self._on_message, on_lost=self._lost)
        self._reconnecting: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- connection -------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect, subscribe to our command topic and say we are online (retained); whether
        the broker still had our session."""
        from payments.fleet_messages import down_topic

        present = await self.mqtt.connect()
        await self.mqtt.subscribe([(down_topic(self.device_id), 1)])
        online = {"v": 1, "device_id": self.device_id, "sent_at": _fmt(self.wall()),
                  "online": True}
        await self.mqtt.publish(self._topics["status"], _json(online), qos=1, retain=True)
        return present

    def _lost(self) -> None:
        """The broker dropped us: reconnect at once, as a real unit's link does (not only
        when there is something to send)."""
        self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        if self._reconnecting is None:
            self._reconnecting = asyncio.Lock()
        async with self._reconnecting:
            delay = 0.5
            for _ in range(RECONNECT_ATTEMPTS):
                if self.mqtt.connected:
                    return
                try:
                    if not await self.connect():
                        self.record.sessions_lost += 1
                    self.record.reconnects += 1
                except MqttError:
                    self.record.connect_failures += 1
                    await asyncio.sleep(delay + self.rng.random() * delay)  # back-off
                    delay = min(delay * 2, 10.0)

    async def _publish(self, kind: str, payload: bytes, *, retries: int = 20) -> bool:
        """Publish at QoS 1 until the broker takes it (reconnecting as needed)."""
        for _ in range(retries):
            try:
                await self.mqtt.publish(self._topics[kind], payload, qos=1)
                return True
            except MqttError:
                self.record.mqtt_errors += 1
                await self._reconnect()
        return False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait for this unit's acks and rides in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- telemetry --------------------------------------------------------------------------

    async def telemetry(self, stop_at: float, loop_time: Callable[[], float]) -> None:
        """Heartbeats (and positions) every interval until ``stop_at`` (loop time)."""
        due = loop_time() + self.rng.uniform(0, self.interval_s)
        n = 0
        while True:
            if due > loop_time():
                await asyncio.sleep(min(due, stop_at) - loop_time())  # the unit's timer
            if loop_time() >= stop_at:
                return
            self.seq += 1
            n += 1
            heartbeat = {"v": 1, "device_id": self.device_id, "sent_at": _fmt(self.wall()),
                         "lock": self.lock, "unit_state": self._unit_state(),
                         "battery_pct": self.battery, "battery_mv": 3300 + self.battery * 9,
                         "signal_dbm": -60 - self.rng.randint(0, 40),
                         "interval_s": int(self.interval_s), "seq": self.seq}
            if await self._publish("heartbeat", _json(heartbeat)):
                self.record.heartbeats += 1
            if self.plan.position_every and n % self.plan.position_every == 0:
                self.lat += self.rng.uniform(-1e-4, 1e-4)
                self.lon += self.rng.uniform(-1e-4, 1e-4)
                position = {"v": 1, "device_id": self.device_id, "sent_at": _fmt(self.wall()),
                            "lat": round(self.lat, 6), "lon": round(self.lon, 6),
                            "accuracy_m": 5.0, "seq": self.seq}
                if await self._publish("position", _json(position)):
                    self.record.positions += 1
            due += self.interval_s

    def _unit_state(self) -> str:
        return {"idle": "idle", "riding": "riding", "in_service": "service"}[self.state]

    # --- commands ---------------------------------------------------------------------------

    async def _on_message(self, message: Message) -> None:
        """A command from the back end: decided at once (the broker's PUBACK follows), the ack
        published by its own task so the reader never waits on our own publish."""
        from payments.fleet_messages import FleetMessageError, decode

        try:
            command = decode("command", message.payload)
        except FleetMessageError:
            self.record.mqtt_errors += 1
            return
        cid = getattr(command, "command_id", "")
        if cid in self.first_acks:
            self.record.commands_repeated += 1
            self._spawn(self._send_ack(cid, self.first_acks[cid]))
            return
        now = self.wall()
        self.record.commands_received.setdefault(cid, now)
        status, detail = self._execute(command, now)
        ack = {"v": 1, "device_id": self.device_id, "sent_at": _fmt(now), "command_id": cid,
               "status": status, "detail": detail, "lock": self.lock}
        payload = _json(ack)
        self.first_acks[cid] = payload
        self.record.ack_status[cid] = status
        self._spawn(self._send_ack(cid, payload))

    def _execute(self, command: Any, now: float) -> tuple[str, str]:
        if command.expired(now):
            return "expired", "the deadline passed before the unit got the command"
        name = command.command
        if name == "find":
            return "done", "beeped and flashed"
        if name == "set_interval":
            self.interval_s = float(command.args["heartbeat_s"])
            return "done", f"heartbeat every {int(self.interval_s)} s"
        if self.state == "riding" or (self.busy and self.state == "idle"):
            return "refused", "a ride is under way"
        if name == "unlock":
            self.state, self.lock = "in_service", "unlocked"
            return "done", "unlocked for service"
        self.state, self.lock = "idle", "locked"
        return "done", "locked"

    async def _send_ack(self, command_id: str, payload: bytes) -> None:
        if await self._publish("ack", payload):
            self.record.acks_published.setdefault(command_id, self.wall())

    # --- rides ------------------------------------------------------------------------------

    async def ride(self) -> None:
        """One whole rental; failures are counted by reason, never raised."""
        if self.busy or self.state != "idle":
            return
        self.busy = True
        try:
            await self._ride()
        except HttpError as exc:
            self.record.ride_failed(str(exc))
        finally:
            self.busy = False
            if self.state == "riding":
                self.state, self.lock = "idle", "locked"

    async def _ride(self) -> None:
        subject = self.rng.choice(self.riders)
        ride_id = f"ride_{uuid.uuid4().hex[:16]}"
        status, body = await self._http("resolve", "POST", "/v1/payment-codes/resolve",
                                        {"code": self.issue_code(subject)}, keyed=True)
        if status != 200:
            self.record.ride_failed(f"resolve {status} {_code(body)}")
            return
        deposit = {"amount_minor": self.plan.deposit_minor, "currency": self.plan.currency}
        status, body = await self._http("hold", "POST", "/v1/holds",
                                        {"subject_id": subject, "amount": deposit,
                                         "reference": ride_id}, keyed=True)
        if status != 201:
            self.record.ride_failed(f"hold {status} {_code(body)}")
            return
        hold_id = body["hold_id"]
        self.record.rides_started += 1
        self.state, self.lock = "riding", "unlocked"
        await self._events([("ride.started", subject, {"ride_id": ride_id}),
                            ("deposit.held", subject, {"ride_id": ride_id, "hold_id": hold_id,
                                                       "amount_minor": self.plan.deposit_minor,
                                                       "currency": self.plan.currency})])
        duration = self.rng.uniform(*self.plan.ride_s)
        await asyncio.sleep(duration)  # the rider cycling
        self.state, self.lock = "idle", "locked"
        fare = {"amount_minor": self.plan.fare_minor, "currency": self.plan.currency}
        status, body = await self._http("charge", "POST", "/v1/charges",
                                        {"subject_id": subject, "amount": fare,
                                         "reference": ride_id, "description": "ride fare"},
                                        keyed=True)
        charged = status == 201
        charge_id = str(body.get("charge_id", "")) if charged else ""
        if not charged:
            self.record.ride_failed(f"charge {status} {_code(body)}")
        status, body = await self._http("release", "POST", f"/v1/holds/{hold_id}/release", {},
                                        keyed=True)
        if status != 200:
            self.record.ride_failed(f"release {status} {_code(body)}")
            return
        ended = [("ride.ended", subject, {"ride_id": ride_id, "duration_s": int(duration),
                                          "on_time": True})]
        if charged:
            ended.append(("payment.captured", subject,
                          {"ride_id": ride_id, "charge_id": charge_id,
                           "amount_minor": self.plan.fare_minor,
                           "currency": self.plan.currency}))
        ended.append(("deposit.released", subject, {"ride_id": ride_id, "hold_id": hold_id}))
        await self._events(ended)
        if charged:
            self.record.rides_completed += 1

    async def _http(self, kind: str, method: str, path: str, body: Mapping[str, Any], *,
                    keyed: bool) -> tuple[int, dict[str, Any]]:
        started = time.monotonic()
        result = await self.http.call(method, path, self.api_key, body,
                                      idempotency_key=uuid.uuid4().hex if keyed else None)
        self.record.http_took(kind, time.monotonic() - started)
        return result

    async def _events(self, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Chain the events, publish them in one batch (QoS 1) and record when."""
        from payments.event_chain import chain_hash

        sent_at = self.wall()
        stamp = _fmt(sent_at)
        events = []
        for type_, subject, attributes in items:
            event = {"id": f"evt_{uuid.uuid4().hex}", "schema": 1, "type": type_,
                     "time": stamp, "terminal_id": self.device_id, "subject_id": subject,
                     "attributes": attributes}
            if self.prev_hash is not None:
                event["prev_hash"] = self.prev_hash
            self.prev_hash = chain_hash(event, self.prev_hash)
            events.append(event)
        payload = _json({"v": 1, "device_id": self.device_id, "sent_at": stamp,
                         "events": events})
        for event in events:
            self.record.events_sent[event["id"]] = sent_at
        self.record.event_batches += 1
        for _ in range(20):
            try:
                await self.mqtt.publish(self._topics["events"], payload, qos=1)
                return
            except MqttError:  # no PUBACK: the batch is still ours; send it again
                self.record.mqtt_errors += 1
                self.record.batches_resent += 1
                await self._reconnect()
        raise HttpError("events: the broker never acknowledged the batch")

    async def close(self) -> None:
        """Disconnect cleanly (no last will)."""
        await self.mqtt.disconnect()


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _code(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    return str(error.get("code", "")) if isinstance(error, Mapping) else ""
