"""`scanpay bench fleet`: N emulated lock units on MQTT against the back end, in one process.

It starts its own mosquitto, database (SQLite file, or PostgreSQL with ``--store postgresql``)
and back end with its MQTT bridge (:mod:`.fleet_stack`), or uses the ones given with
``--broker`` / ``--store URL``. Then ``--locks`` units (:mod:`.fleet_units`), each with its own
device id, API key, MQTT password and connection, all on one asyncio loop, send heartbeats and
positions every ``--heartbeat-s``, ride at ``--rides-per-s`` over the whole fleet (payment-code
resolve, deposit hold, fare charge and deposit release over HTTP; ride events over MQTT), and
answer the remote commands an operator sends through the back end's fleet API
(``POST /v1/fleet/vehicles/{id}/commands``) at ``--commands-per-s``.

Measured: events per second; event end-to-end latency (the unit's ``sent_at`` to the back end's
``received_at`` of the stored event, one clock); command round trip (the operator's POST to the
back end having the unit's ack: the command's ``acked_at`` when the back end reports it, else
when a poll first saw it acknowledged); CPU of the broker, the back end, the database and the
simulator (:mod:`.fleet_cpu`) and which saturates first. At the end the back end's records are
checked: events stored against events sent (lost, stored twice, charged twice), commands
acknowledged. ``--locks 100,1000,10000`` runs each and plots latency against N.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from terminal.bench.fleet_units import FleetRecord, HttpError, HttpPool, SimUnit, UnitPlan
from terminal.errors import TerminalError

DEFAULT_OUT = Path("bench-results") / "fleet"
DEVICE_PREFIX = "fbike-"
OPERATOR_ID = "fleet-bench-operator"
CONNECT_CONCURRENCY = 200
OPERATOR_CONNECTIONS = 4
# How often the operator looks at a command's status; the round trip itself is timed by the
# back end's answered_at, so this only bounds how soon an ack is noticed.
COMMAND_POLL_S = 0.25
COMMAND_WAIT_S = 30.0
DRAIN_QUIET_S = 10.0
DRAIN_MAX_S = 120.0
SETTLE_MAX_S = 300.0
# Targets of issue #11 at 10,000 locks.
TARGET_COMMAND_P99_MS = 1000.0
COMMANDS = ("find", "find", "unlock", "set_interval")


@dataclass(frozen=True)
class FleetPlan:
    """One run: fleet size, measured seconds and the offered load."""

    locks: int = 100
    seconds: float = 30.0
    heartbeat_s: float = 30.0
    rides_per_s: float = 0.0  # 0: locks / 200 per second
    commands_per_s: float = 2.0
    ride_s: tuple[float, float] = (5.0, 15.0)
    store: str = "sqlite"
    broker: str = ""
    workers: int = 1
    http_connections: int = 16
    seed: int = 1
    # Restart the broker halfway through the window (units and bridge reconnect; persistent
    # sessions keep what was queued), to show nothing is lost or stored twice across it.
    restart_broker: bool = False

    @property
    def ride_rate(self) -> float:
        """Rides started per second over the fleet."""
        return self.rides_per_s if self.rides_per_s > 0 else self.locks / 200.0


@dataclass
class CommandTrace:
    """One remote command: when it was issued and how it ended."""

    command_id: str
    device_id: str
    command: str
    issued_at: float
    status: str = "sent"
    acked_at: float | None = None
    http_status: int = 0
    published_at: str | None = None


@dataclass
class FleetResult:
    """The numbers of one run (the ``--json`` object).

    ``p50_ms`` / ``p99_ms`` are the command round trip (the issue's target); the event
    end-to-end latency is ``event_p50_ms`` / ``event_p99_ms``. ``duplicated`` counts events
    stored twice, stored events nobody sent, and rides charged twice.
    """

    locks: int
    store: str
    broker: str
    events_sent: int
    events_stored: int
    lost: int
    duplicated: int
    commands_sent: int
    commands_acked: int
    p50_ms: float | None
    p99_ms: float | None
    saturated: str
    seconds: float = 0.0
    events_per_s: float = 0.0
    event_p50_ms: float | None = None
    event_p99_ms: float | None = None
    command_p50_ms: float | None = None
    command_p99_ms: float | None = None
    command_status: dict[str, int] = field(default_factory=dict)
    heartbeats: int = 0
    positions: int = 0
    heartbeats_per_s: float = 0.0
    mqtt_messages_per_s: float = 0.0
    rides_started: int = 0
    rides_completed: int = 0
    rides_failed: int = 0
    ride_errors: dict[str, int] = field(default_factory=dict)
    # Commands without an answer in the back end: what the unit saw of them (at most 10).
    unanswered: list[dict[str, Any]] = field(default_factory=list)
    double_charges: int = 0
    stored_twice: int = 0
    unexpected_events: int = 0
    batches_resent: int = 0
    broker_restarts: int = 0
    reconnects: int = 0
    sessions_lost: int = 0
    # Units not connected when the window ended (their ids, at most 10).
    offline_at_end: list[str] = field(default_factory=list)
    connect_s: float = 0.0
    # From every unit connected to the back end having a vehicle row for each (the bridge
    # through the sign-in backlog); the window starts after it.
    settle_s: float = 0.0
    http_p99_ms: dict[str, float] = field(default_factory=dict)
    loop_lag_p99_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    gc_pause_max_ms: float = 0.0
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, bool] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object (the issue's keys first)."""
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1, nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000.0, 1)


def device_ids(n: int) -> list[str]:
    """The simulated units' ids (also their terminal ids and MQTT users)."""
    return [f"{DEVICE_PREFIX}{i:05d}" for i in range(n)]


def _progress(text: str) -> None:
    print(f"[fleet] {text}", file=sys.stderr, flush=True)


class _Run:
    """One run of the benchmark on a started stack."""

    def __init__(self, plan: FleetPlan, stack: Any) -> None:
        self.plan = plan
        self.stack = stack
        self.record = FleetRecord()
        self.rng = random.Random(plan.seed)
        self.commands: list[CommandTrace] = []
        self.lags: list[float] = []
        self.units: list[SimUnit] = []
        self.in_flight: list[asyncio.Task[None]] = []
        self.broker_restarts = 0
        self.offline: list[str] = []
        self.gc_pauses: list[float] = []
        self._gc_started = 0.0

    async def run(self) -> FleetResult:
        from backend.keyring import dev_api_key
        from backend.settings import DEV_SIGNING_SEED_HEX
        from terminal.bench.fleet_cpu import CpuMeter

        plan, stack = self.plan, self.stack
        loop = asyncio.get_running_loop()
        http = HttpPool(stack.backend_port, plan.http_connections)
        # The operator's console is a client of its own, not queued behind the units' calls.
        console = HttpPool(stack.backend_port, OPERATOR_CONNECTIONS)
        operator_key = dev_api_key(DEV_SIGNING_SEED_HEX, OPERATOR_ID)
        riders = await self._riders(http, operator_key)
        issue = _code_issuer()
        unit_plan = UnitPlan(heartbeat_s=plan.heartbeat_s, ride_s=plan.ride_s)
        self.units = [SimUnit(d, api_key=dev_api_key(DEV_SIGNING_SEED_HEX, d),
                              mqtt_password=stack.password_of(d),
                              broker=(stack.broker_host, stack.broker_port), http=http,
                              record=self.record, plan=unit_plan,
                              rng=random.Random(plan.seed * 1_000_003 + i), issue_code=issue,
                              riders=riders)
                      for i, d in enumerate(device_ids(plan.locks))]
        started = time.monotonic()
        await self._connect_all()
        connect_s = time.monotonic() - started
        _progress(f"{plan.locks} units connected in {connect_s:.1f} s")
        # Ten thousand units are hundreds of thousands of long-lived objects; a full garbage
        # collection walking them all stalls the loop (0.4 s measured, more on a busy CPU).
        # They live until the end: keep them out of the collector's walks.
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._gc_timer)
        settle_s = await self._settle()
        _progress(f"the back end knows every unit {settle_s:.1f} s later; measuring "
                  f"{plan.seconds:g} s")
        meter = CpuMeter({**stack.pids, "simulator": os.getpid()},
                         {**stack.limits, "simulator": 1.0})
        meter.sample()
        t0 = loop.time()
        stop_at = t0 + plan.seconds
        telemetry = [loop.create_task(u.telemetry(stop_at, loop.time)) for u in self.units]
        drivers = [loop.create_task(self._rides(stop_at)),
                   loop.create_task(self._commands(console, operator_key, stop_at)),
                   loop.create_task(self._sample(meter, stop_at))]
        if plan.restart_broker:
            drivers.append(loop.create_task(self._restart_broker(meter, t0 + plan.seconds / 2)))
        await asyncio.gather(*drivers, *telemetry)
        window = loop.time() - t0
        meter.sample()
        self.offline = [u.device_id for u in self.units if not u.mqtt.connected]
        _progress("window over; waiting for rides, acks and the back end to finish")
        await asyncio.gather(*self.in_flight)
        await asyncio.gather(*(u.wait_idle() for u in self.units))
        await self._await_commands(console, operator_key)
        stored = await self._drain()
        gc.callbacks.remove(self._gc_timer)
        gc.unfreeze()
        await asyncio.gather(*(u.close() for u in self.units), return_exceptions=True)
        http.close()
        console.close()
        return self._result(stored, window, connect_s, meter, settle_s)

    def _gc_timer(self, phase: str, info: dict[str, Any]) -> None:
        """Time the garbage collector's pauses (its callbacks run around each collection)."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self.gc_pauses.append(time.perf_counter() - self._gc_started)
            self._gc_started = 0.0

    async def _settle(self) -> float:
        """Wait until the back end has a vehicle for every unit (it ingested their status
        messages), at most :data:`SETTLE_MAX_S`; the seconds waited."""
        loop = asyncio.get_running_loop()
        start = last_report = loop.time()
        while loop.time() - start < SETTLE_MAX_S:
            known = await asyncio.to_thread(self.stack.count_vehicles, DEVICE_PREFIX)
            if known >= len(self.units):
                break
            if loop.time() - last_report >= 5.0:
                last_report = loop.time()
                _progress(f"the back end knows {known}/{len(self.units)} units")
            await asyncio.sleep(0.25)  # waiting for the bridge's backlog
        return loop.time() - start

    async def _riders(self, http: HttpPool, key: str) -> list[str]:
        riders = [f"fleet-rider-{i:04d}" for i in range(max(10, self.plan.locks // 20))]
        for rider in riders:
            status, body = await http.call("POST", "/v1/dev/subjects", key,
                                           {"subject_id": rider, "balance_minor": 10**12,
                                            "currency": "CNY"})
            if status not in (201, 409):
                raise TerminalError(f"cannot create rider {rider}: HTTP {status} {body}")
        return riders

    async def _connect_all(self) -> None:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        done = 0

        async def one(unit: SimUnit) -> None:
            nonlocal done
            async with gate:
                for attempt in range(5):
                    try:
                        await unit.connect()
                        break
                    except TerminalError as exc:
                        if attempt == 4:
                            raise TerminalError(f"{unit.device_id} could not connect: {exc}") \
                                from None
                        await asyncio.sleep(0.5 * 2 ** attempt)  # back-off before retrying
            done += 1
            if done % 1000 == 0:
                _progress(f"{done}/{len(self.units)} units connected")

        await asyncio.gather(*(one(u) for u in self.units))

    async def _rides(self, stop_at: float) -> None:
        """Start rides on idle units as a Poisson process at the planned rate."""
        loop = asyncio.get_running_loop()
        rate = self.plan.ride_rate
        while rate > 0:
            gap = self.rng.expovariate(rate)
            # Poisson arrivals; one due after the window ends is not waited for.
            await asyncio.sleep(min(gap, max(0.0, stop_at - loop.time())))
            if loop.time() >= stop_at:
                break
            unit = self.rng.choice(self.units)
            if not unit.busy and unit.state == "idle":
                self.in_flight.append(loop.create_task(unit.ride()))

    async def _commands(self, http: HttpPool, key: str, stop_at: float) -> None:
        """Send remote commands through the back end's fleet API at the planned rate."""
        loop = asyncio.get_running_loop()
        rate = self.plan.commands_per_s
        while rate > 0:
            gap = self.rng.expovariate(rate)
            # Poisson arrivals; one due after the window ends is not waited for.
            await asyncio.sleep(min(gap, max(0.0, stop_at - loop.time())))
            if loop.time() >= stop_at:
                break
            unit = self.rng.choice(self.units)
            name = self.rng.choice(COMMANDS)
            if unit.state == "in_service":
                name = "lock"  # an operator closes what they opened
            # The interval the unit already has, within what a command may set (10..3600 s).
            every = min(3600, max(10, int(self.plan.heartbeat_s)))
            args = {"heartbeat_s": every} if name == "set_interval" else {}
            self.in_flight.append(loop.create_task(
                self._command(http, key, unit.device_id, name, args)))

    async def _command(self, http: HttpPool, key: str, device_id: str, name: str,
                       args: dict[str, Any]) -> None:
        issued = time.time()
        try:
            status, body = await http.call(
                "POST", f"/v1/fleet/vehicles/{device_id}/commands", key,
                {"command": name, "args": args, "deadline_s": 60},
                idempotency_key=uuid.uuid4().hex)
        except HttpError as exc:
            self.commands.append(CommandTrace("", device_id, name, issued, status=str(exc)))
            return
        trace = CommandTrace(str(body.get("command_id", "")), device_id, name, issued,
                             http_status=status)
        self.commands.append(trace)
        if status != 202 or not trace.command_id:
            error = body.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            trace.status = f"http_{status}" + (f"_{code}" if code else "")
            return
        await self._watch(http, key, trace)

    async def _watch(self, http: HttpPool, key: str, trace: CommandTrace) -> None:
        """Poll the command until the back end has the unit's ack (or we give up)."""
        deadline = time.time() + COMMAND_WAIT_S
        while time.time() < deadline:
            try:
                status, body = await http.call("GET", f"/v1/fleet/commands/{trace.command_id}",
                                               key)
            except HttpError:
                status, body = 0, {}
            if status == 200:
                trace.published_at = body.get("published_at")
            if status == 200 and body.get("status") not in (None, "sent", "pending"):
                trace.status = str(body["status"])
                trace.acked_at = _acked_at(body) or time.time()
                return
            await asyncio.sleep(COMMAND_POLL_S)  # polling the back end's view of the ack
        trace.status = "no_ack_seen"

    async def _await_commands(self, http: HttpPool, key: str) -> None:
        """Give commands still unacknowledged a last look (they may have been acked late)."""
        late = [t for t in self.commands if t.command_id and t.acked_at is None]
        await asyncio.gather(*(self._watch(http, key, t) for t in late))

    async def _restart_broker(self, meter: Any, at: float) -> None:
        """Stop and start the broker (SIGTERM: it saves its sessions) at loop time ``at``."""
        if self.stack.restart_broker is None:
            raise TerminalError("--restart-broker needs the broker this benchmark starts, "
                                "not one given with --broker")
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, at - loop.time()))  # the planned moment
        _progress("restarting the broker")
        await asyncio.to_thread(self.stack.restart_broker)
        meter.roots = {**meter.roots, "broker": self.stack.pids["broker"]}
        self.broker_restarts += 1

    async def _sample(self, meter: Any, stop_at: float) -> None:
        """CPU every second and the event loop's lag (how late a 100 ms timer fires)."""
        loop = asyncio.get_running_loop()
        next_cpu = loop.time() + 1.0
        while loop.time() < stop_at:
            before = loop.time()
            await asyncio.sleep(0.1)  # measuring the loop's lag is the point
            self.lags.append(max(0.0, loop.time() - before - 0.1))
            if loop.time() >= next_cpu:
                meter.sample()
                next_cpu += 1.0

    async def _drain(self) -> dict[str, list[float]]:
        """Wait until the back end stores every event sent, or stops making progress."""
        loop = asyncio.get_running_loop()
        sent = len(self.record.events_sent)
        last, quiet_since, start = -1, loop.time(), loop.time()
        while True:
            count = await asyncio.to_thread(self.stack.count_events, DEVICE_PREFIX)
            if count >= sent:
                break
            if count != last:
                last, quiet_since = count, loop.time()
                _progress(f"back end stored {count}/{sent} events")
            if loop.time() - quiet_since > DRAIN_QUIET_S or loop.time() - start > DRAIN_MAX_S:
                break
            await asyncio.sleep(0.5)  # waiting for the bridge to catch up
        return await asyncio.to_thread(self.stack.stored_events, DEVICE_PREFIX)

    def _result(self, stored: dict[str, list[float]], window: float, connect_s: float,
                meter: Any, settle_s: float) -> FleetResult:
        from terminal.bench.fleet_cpu import saturated

        plan, rec = self.plan, self.record
        sent = rec.events_sent
        lost = sum(1 for eid in sent if eid not in stored)
        twice = sum(len(v) - 1 for v in stored.values())
        unexpected = sum(1 for eid in stored if eid not in sent)
        charges = self.stack.charges_per_ride(DEVICE_PREFIX)
        double = sum(n - 1 for n in charges.values() if n > 1)
        event_lat = [stored[eid][0] - at for eid, at in sent.items() if eid in stored]
        cmd_lat = [t.acked_at - t.issued_at for t in self.commands if t.acked_at is not None]
        statuses: dict[str, int] = {}
        for trace in self.commands:
            statuses[trace.status] = statuses.get(trace.status, 0) + 1
        acked = sum(1 for t in self.commands if t.status in ("done", "failed", "expired",
                                                              "refused"))
        cpu = meter.report()
        unanswered = [{"command_id": t.command_id, "device_id": t.device_id,
                       "command": t.command, "status": t.status,
                       "published_at": t.published_at,
                       "unit_received": t.command_id in rec.commands_received,
                       "unit_ack_taken_by_broker": t.command_id in rec.acks_published}
                      for t in self.commands if t.acked_at is None][:10]
        mqtt_msgs = rec.heartbeats + rec.positions + rec.event_batches + len(rec.acks_published)
        p99_cmd = percentile(cmd_lat, 0.99)
        result = FleetResult(
            locks=plan.locks, store=self.stack.store_kind, broker=self.stack.broker_label,
            events_sent=len(sent), events_stored=sum(1 for eid in sent if eid in stored),
            lost=lost, duplicated=twice + double + unexpected, commands_sent=len(self.commands),
            commands_acked=acked, p50_ms=_ms(percentile(cmd_lat, 0.5)), p99_ms=_ms(p99_cmd),
            saturated=saturated(cpu), seconds=round(window, 2),
            events_per_s=round(len(sent) / window, 1) if window else 0.0,
            event_p50_ms=_ms(percentile(event_lat, 0.5)),
            event_p99_ms=_ms(percentile(event_lat, 0.99)),
            command_p50_ms=_ms(percentile(cmd_lat, 0.5)), command_p99_ms=_ms(p99_cmd),
            command_status=statuses, heartbeats=rec.heartbeats, positions=rec.positions,
            heartbeats_per_s=round(rec.heartbeats / window, 1) if window else 0.0,
            mqtt_messages_per_s=round(mqtt_msgs / window, 1) if window else 0.0,
            rides_started=rec.rides_started, rides_completed=rec.rides_completed,
            rides_failed=rec.rides_failed, ride_errors=dict(rec.ride_errors),
            unanswered=unanswered, double_charges=double, stored_twice=twice,
            unexpected_events=unexpected,
            batches_resent=rec.batches_resent, broker_restarts=self.broker_restarts,
            reconnects=rec.reconnects, sessions_lost=rec.sessions_lost,
            offline_at_end=self.offline[:10],
            connect_s=round(connect_s, 2), settle_s=round(settle_s, 2),
            http_p99_ms={k: _ms(percentile(v, 0.99)) or 0.0
                         for k, v in rec.http_latency_s.items()},
            loop_lag_p99_ms=_ms(percentile(self.lags, 0.99)) or 0.0,
            loop_lag_max_ms=_ms(max(self.lags, default=0.0)) or 0.0,
            gc_pause_max_ms=_ms(max(self.gc_pauses, default=0.0)) or 0.0, cpu=cpu,
            plan={**asdict(plan), "ride_rate": plan.ride_rate})
        result.targets = {
            "no_lost_events": lost == 0,
            "no_duplicates": result.duplicated == 0,
            "every_command_acked": acked == len(self.commands),
            "command_p99_within_1s": p99_cmd is not None
            and p99_cmd * 1000 <= TARGET_COMMAND_P99_MS,
        }
        return result


def _acked_at(body: dict[str, Any]) -> float | None:
    """The back end's time of the ack, when its command view gives one."""
    from payments.fleet_messages import FleetMessageError, parse_time

    for key in ("answered_at", "acked_at"):
        value = body.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return parse_time(value, key)
            except FleetMessageError:
                continue
    return None


def _code_issuer() -> Any:
    """Payment codes as the riders' wallet app would show them (development signing key)."""
    from backend.keyring import dev_keyring
    from backend.settings import DEV_SIGNING_SEED_HEX
    from payments.paycode import issue_code, signing_key_from_seed

    key = signing_key_from_seed(dev_keyring(DEV_SIGNING_SEED_HEX).active_signing.secret)

    def issue(subject: str) -> str:
        return issue_code(subject, signing_key=key, now=time.time(), ttl_s=600)

    return issue


def run_fleet(plan: FleetPlan) -> FleetResult:
    """Start the stack, run the fleet, check the records, stop the stack."""
    from terminal.bench.fleet_stack import raise_open_files, start_stack, temp_directory

    nofile = raise_open_files()
    if nofile < plan.locks + 256:
        raise TerminalError(f"{plan.locks} units need {plan.locks + 256} open files; this "
                            f"process may open {nofile} (raise ulimit -n)")
    with temp_directory() as tmp:
        _progress(f"starting broker, {plan.store} store and back end for {plan.locks} units")
        stack = start_stack(device_ids(plan.locks), OPERATOR_ID, store=plan.store,
                            broker_url=plan.broker, workers=plan.workers, directory=Path(tmp))
        run = _Run(plan, stack)
        try:
            return asyncio.run(run.run())
        finally:
            gc.unfreeze()  # also when the run failed half-way
            if run._gc_timer in gc.callbacks:
                gc.callbacks.remove(run._gc_timer)
            stack.stop()


def format_result(r: FleetResult) -> str:
    """The human-readable summary."""
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:g}"

    lines = [
        f"fleet: {r.locks} locks, {r.store} store, broker {r.broker}, {r.seconds:g} s measured "
        f"(connect {r.connect_s:g} s, back end caught up {r.settle_s:g} s later)",
        f"events     sent {r.events_sent}, stored {r.events_stored}, lost {r.lost}, duplicated "
        f"{r.duplicated}; {r.events_per_s:g}/s; end-to-end p50 {f(r.event_p50_ms)} ms, "
        f"p99 {f(r.event_p99_ms)} ms",
        f"telemetry  {r.heartbeats} heartbeats ({r.heartbeats_per_s:g}/s), {r.positions} "
        f"positions; {r.mqtt_messages_per_s:g} MQTT messages/s from units",
        f"rides      started {r.rides_started}, completed {r.rides_completed}, failed "
        f"{r.rides_failed} {r.ride_errors or ''}".rstrip(),
        f"commands   sent {r.commands_sent}, acked {r.commands_acked} {r.command_status}; "
        f"round trip p50 {f(r.p50_ms)} ms, p99 {f(r.p99_ms)} ms",
        "cpu        " + ", ".join(f"{k} {v['mean_cores']:g} (peak {v['peak_cores']:g}) of "
                                  f"{v['limit_cores']:g}" for k, v in r.cpu.items()),
        f"saturated  {r.saturated}; simulator loop lag p99 {r.loop_lag_p99_ms:g} ms, max "
        f"{r.loop_lag_max_ms:g} ms (longest GC pause {r.gc_pause_max_ms:g} ms); "
        f"something waited for a CPU "
        f"{100 * r.cpu.get('machine', {}).get('cpu_waiting_share', 0):.0f}% of the time",
        "targets    " + ", ".join(f"{k} {'PASS' if ok else 'MISS'}" for k, ok in r.targets.items()),
    ]
    return "\n".join(lines)


def plot(results: Sequence[FleetResult], path: Path) -> Path:
    """Latency (command round trip and event end-to-end, p50 and p99) against fleet size,
    and beside it the CPU each process used (what saturates first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(results, key=lambda r: r.locks)
    xs = [r.locks for r in ordered]
    fig, (ax, cpu_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    series = [("command p50", "command_p50_ms", "-o"), ("command p99", "command_p99_ms", "-s"),
              ("event p50", "event_p50_ms", "--o"), ("event p99", "event_p99_ms", "--s")]
    for label, key, style in series:
        ys = [getattr(r, key) for r in ordered]
        if any(y is not None for y in ys):
            ax.plot(xs, [y if y is not None else float("nan") for y in ys], style, label=label)
    ax.axhline(TARGET_COMMAND_P99_MS, color="grey", linestyle=":", label="command p99 target")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("simulated locks")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"Latency against size ({ordered[0].store}, {ordered[0].broker})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    names = sorted({name for r in ordered for name in r.cpu})
    for name in names:
        ys = [r.cpu.get(name, {}).get("mean_cores", float("nan")) for r in ordered]
        style = ":" if name == "machine" else "-o"
        label = "whole machine (all users)" if name == "machine" else name
        cpu_ax.plot(xs, ys, style, label=label)
    cpu_ax.set_xscale("log")
    cpu_ax.set_xlabel("simulated locks")
    cpu_ax.set_ylabel("mean CPU (cores)")
    cpu_ax.set_title("CPU per process over the measured window")
    cpu_ax.grid(True, which="both", alpha=0.3)
    cpu_ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _locks(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--locks takes numbers like 100,1000; got {text!r}") \
            from None
    if not values or any(not 1 <= v <= 60_000 for v in values):
        raise argparse.ArgumentTypeError("each --locks value must be 1..60000")
    return values


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``bench fleet``."""
    p = sub.add_parser(
        "fleet", help="N emulated lock units on MQTT against the back end (one process)",
        description="Start a broker, a database and the back end with its MQTT bridge (or use "
        "the given ones), run N emulated lock units in one asyncio process (heartbeats, "
        "positions, rides with payments, event uploads, acks to remote commands), send remote "
        "commands through the back end, and report events/s, latency, commands acknowledged, "
        "what saturates first, and events lost or duplicated in the back end's records.")
    p.add_argument("--locks", type=_locks, default=[100], metavar="N[,N...]",
                   help="simulated units; several (e.g. 100,1000,10000) run each and plot "
                   "latency against N (default 100)")
    p.add_argument("--seconds", type=_positive, default=30.0,
                   help="measured seconds per run (default 30)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per run (one line each)")
    p.add_argument("--store", default="postgresql",
                   help="postgresql (a server of its own, started for the run; the default, as "
                   "a fleet's back end runs), sqlite (a file of its own) or a postgresql:// URL")
    p.add_argument("--broker", default="", metavar="URL",
                   help="mqtt://host:port of a running broker that knows the units' "
                   "development passwords (default: start mosquitto)")
    p.add_argument("--workers", type=int, default=2,
                   help="back-end worker processes (default 2, with the MQTT bridge as a "
                   "process of its own, as a fleet is deployed; 1 runs the bridge inside the "
                   "one worker, sharing its CPU with the HTTP calls)")
    p.add_argument("--heartbeat-s", type=_positive, default=30.0,
                   help="each unit's heartbeat (and position) interval (default 30)")
    p.add_argument("--rides-per-s", type=_rate, default=0.0,
                   help="rides started per second over the fleet (default: locks/200)")
    p.add_argument("--commands-per-s", type=_rate, default=2.0,
                   help="remote commands sent per second (default 2)")
    p.add_argument("--restart-broker", action="store_true",
                   help="restart the broker halfway through each run (units and the bridge "
                   "reconnect); the records must still show nothing lost or stored twice")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the units' behaviour, rides and commands (default 1)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"where fleet.json and the plot go (default {DEFAULT_OUT})")
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    if not 1 <= args.workers <= 16:
        raise TerminalError("--workers must be 1..16")
    results: list[FleetResult] = []
    for n in args.locks:
        plan = FleetPlan(locks=n, seconds=args.seconds, heartbeat_s=args.heartbeat_s,
                         rides_per_s=args.rides_per_s, commands_per_s=args.commands_per_s,
                         store=args.store, broker=args.broker, workers=args.workers,
                         seed=args.seed, restart_broker=args.restart_broker)
        result = run_fleet(plan)
        results.append(result)
        if args.json:
            print(json.dumps(result.to_json(), sort_keys=False), flush=True)
        else:
            print(format_result(result), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fleet.json").write_text(json.dumps([r.to_json() for r in results], indent=2))
    png = plot(results, args.out / "fleet_latency.png")
    _progress(f"wrote {args.out / 'fleet.json'} and {png}")
    return 0
