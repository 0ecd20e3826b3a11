"""The back end's MQTT client: ingests what units publish, publishes the commands issued.

One bridge runs per back end (inside ``scanpay backend serve --mqtt URL`` or as ``scanpay
backend bridge``). It connects as :data:`~payments.fleet_messages.BACKEND_USER` with the client
id :data:`~payments.fleet_messages.BRIDGE_CLIENT_ID` and a persistent session (clean session
off), subscribes to ``scanpay/v1/devices/+/up/#`` at QoS 1 and acknowledges a message (PUBACK)
only after what it carried is committed to the database, so a crash or a lost connection makes
the broker deliver it again rather than lose it; events are idempotent by id, so a redelivery
is counted as duplicates, never stored twice.

Messages are handled on a worker thread in batches, one transaction per batch; the heartbeats
and positions of a batch are folded per vehicle and written in a few statements
(:mod:`backend.fleet.batch`), the other messages apply one at a time:

- ``status`` / ``heartbeat`` / ``position`` / ``alarm``: the vehicle's fleet state;
- ``events``: through the same ingestion code as ``POST /v1/events:batch``
  (:func:`backend.ingest.ingest_checked`) with the device as the caller (its role from
  its API key; in dev mode from its id);
- ``ack``: the command's status.

The worker also publishes issued commands (woken at once by :func:`backend.fleet.service.
send_command` in this process, otherwise it polls), records each as published on the broker's
PUBACK, and times out unanswered ones. A malformed message is logged, counted and dropped.

A batch the database refuses is tried again (:data:`BATCH_TRIES` times in all); then, if the
database answers a trivial query, its messages are applied one at a time, each in its own
transaction, and one that still fails is a poisoned message: recorded once in
:mod:`backend.fleet.dead_letters`, logged, counted (``dead_letters``) and acknowledged, so it no
longer holds up every other unit's messages. While the database does not answer, or fails in
a way that passes (busy, locked, deadlock, connection lost), nothing is dropped: the batch
waits, tried again with a growing delay (at most ``retry_cap_s``).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from backend.context import Backend, Caller
from backend.errors import ApiError, BackendError
from backend.fleet import batch as fleet_batch
from backend.fleet import commands, dead_letters, service, state
from backend.roles import dev_role
from payments.fleet_messages import (
    BACKEND_USER,
    BRIDGE_CLIENT_ID,
    Ack,
    Alarm,
    Events,
    FleetMessageError,
    Heartbeat,
    Message,
    Position,
    Status,
    decode_up,
    down_topic,
    encode,
    up_filter,
)

log = logging.getLogger(__name__)

# Errors of one message's content: the message is dropped (it would fail again).
_POISON = (FleetMessageError, ApiError, KeyError, ValueError, TypeError)
# Put in the incoming queue by wake(): cuts short the worker's wait for the next message.
_WAKE = None
# Writers (connections) of a batch on PostgreSQL.
SHARED_WRITERS = 4
# Tries of a whole batch before its messages are applied one at a time.
BATCH_TRIES = 3
# Tries of one message alone before it is dead-lettered (the database answering).
MESSAGE_TRIES = 2


class BridgeError(BackendError):
    """The bridge could not connect to the broker, or its URL is malformed."""


class DatabaseDown(BackendError):
    """The database does not answer: the messages wait (none is dropped)."""


@dataclass
class BridgeStats:
    """Counters of a running bridge."""

    received: int = 0
    handled: int = 0
    malformed: int = 0
    dropped: int = 0
    events_accepted: int = 0
    events_duplicates: int = 0
    events_rejected: int = 0
    commands_published: int = 0
    acks: int = 0
    # Messages the database refused for good (quarantined, acknowledged).
    dead_letters: int = 0
    # Failed tries of a batch (the database answering), and of the database not answering.
    batch_retries: int = 0
    database_down: int = 0
    transient_errors: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The counters as JSON data."""
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}


def parse_mqtt_url(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``mqtt://host[:port]`` (port 1883 by default)."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname or parts.path not in ("", "/"):
        raise BridgeError(f"an MQTT URL looks like mqtt://host:port, not {url!r}")
    try:
        port = parts.port or 1883
    except ValueError:
        raise BridgeError(f"bad port in {url!r}") from None
    return parts.hostname, port


class Bridge:
    """The back end's MQTT client (see the module docstring)."""

    def __init__(self, backend: Backend, url: str, password: str, *,
                 username: str = BACKEND_USER, client_id: str = BRIDGE_CLIENT_ID,
                 batch_size: int = 500, poll_s: float = 0.2, sweep_s: float = 1.0,
                 keepalive_s: int = 30, writers: int | None = None,
                 retry_s: float = 0.5, retry_cap_s: float = 4.0) -> None:
        self.backend = backend
        # Delay before a failed batch is tried again, doubled while the database does not
        # answer, up to retry_cap_s.
        self._retry_s = retry_s
        self._retry_cap_s = max(retry_s, retry_cap_s)
        self._delay_s = retry_s
        # Connections a batch is applied on at once (by device): on PostgreSQL a batch waits
        # on round trips, not on the CPU; SQLite runs one writer at a time anyway.
        self._writers = max(1, writers if writers is not None else
                            SHARED_WRITERS if backend.store.dialect == "postgresql" else 1)
        self._pool: ThreadPoolExecutor | None = None
        self._stats_lock = threading.Lock()
        self.host, self.port = parse_mqtt_url(url)
        self.stats = BridgeStats()
        self._batch_size = batch_size
        self._poll_s = poll_s
        self._sweep_s = sweep_s
        self._keepalive_s = keepalive_s
        # (connection generation, message): a PUBACK goes only on the connection the message
        # came on (after a reconnect the broker redelivers, and message ids are reused).
        # None (_WAKE) only wakes the worker.
        self._incoming: queue.Queue[tuple[int, mqtt.MQTTMessage] | None] = queue.Queue()
        self._generation = 0
        self._published: queue.Queue[int] = queue.Queue()
        self._inflight: dict[int, str] = {}  # mid -> command id, awaiting PUBACK
        self._inflight_ids: set[str] = set()
        self._inflight_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._connected = threading.Event()
        self._worker: threading.Thread | None = None
        self._progress = threading.Condition()
        self._refused: str | None = None
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=False, protocol=mqtt.MQTTv311)
        client.username_pw_set(username, password)
        client.manual_ack_set(True)
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        self._client = client

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Bridge:
        """Connect, subscribe and start the worker; waits until subscribed."""
        if self._worker is not None:
            return self
        self._stop.clear()
        if self._writers > 1:
            self._pool = ThreadPoolExecutor(self._writers - 1,
                                            thread_name_prefix="scanpay-fleet-writer")
        self._client.connect_async(self.host, self.port, keepalive=self._keepalive_s)
        self._client.loop_start()
        self._worker = threading.Thread(target=self._run, name="scanpay-fleet-bridge",
                                        daemon=True)
        self._worker.start()
        service.register_waker(self.backend, self.wake)
        if not self._ready.wait(timeout_s):
            reason = self._refused or "no answer"
            self.stop()
            raise BridgeError(f"the fleet bridge could not subscribe at "
                              f"mqtt://{self.host}:{self.port}: {reason}")
        log.info("fleet bridge subscribed at mqtt://%s:%s", self.host, self.port)
        return self

    def stop(self) -> None:
        """Disconnect cleanly and stop the worker (messages not yet handled stay unacknowledged
        at the broker, which delivers them again to the next bridge)."""
        service.register_waker(self.backend, None)
        self._stop.set()
        self.wake()
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._client.disconnect()
        self._client.loop_stop()
        self._ready.clear()
        self._connected.clear()

    def __enter__(self) -> Bridge:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        """Whether the bridge is connected to the broker."""
        return self._connected.is_set()

    def wake(self) -> None:
        """Publish issued commands now rather than at the next poll: the worker's wait for
        the next message ends at once."""
        self._wake.set()
        self._incoming.put(_WAKE)

    def wait_handled(self, count: int, timeout_s: float = 10.0) -> bool:
        """Wait until at least ``count`` messages were handled since start."""
        deadline = time.monotonic() + timeout_s
        with self._progress:
            while self.stats.handled < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(left)
        return True

    # -- paho callbacks (network thread) ---------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: object, flags: mqtt.ConnectFlags,
                    rc: mqtt.ReasonCode, _p: object) -> None:
        if rc.is_failure:
            self._refused = str(rc)
            log.warning("fleet bridge: broker refused the connection: %s", rc)
            return
        self._generation += 1
        self._connected.set()
        if flags.session_present and self._ready.is_set():
            return  # the subscription lives on in the session
        client.subscribe(up_filter(), qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _mid: int,
                      codes: list[mqtt.ReasonCode], _p: object) -> None:
        if all(not c.is_failure for c in codes):
            self._ready.set()
        else:
            self._refused = "subscription refused (check the broker's ACL)"

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode,
                       _p: object) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("fleet bridge: disconnected (%s); reconnecting", rc)
        with self._inflight_lock:  # not acknowledged: publish again after reconnecting
            self._inflight.clear()
            self._inflight_ids.clear()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self._incoming.put((self._generation, msg))

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, _rc: mqtt.ReasonCode,
                    _p: object) -> None:
        self._published.put(mid)
        self._wake.set()

    # -- worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            batch = self._take_batch()
            if batch:
                try:
                    self._handle_tried(batch)
                except _Unhandled as left:
                    if self._stop.is_set():
                        return
                    for item in left.items:  # nothing dropped: they wait for the database
                        self._incoming.put(item)
                    self._stop.wait(self._delay_s)
                    self._delay_s = min(self._delay_s * 2, self._retry_cap_s)
                    continue
                self._delay_s = self._retry_s
            try:
                self._mark_published()
                if self._connected.is_set():
                    self._publish_commands()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self._sweep_s
                    with self.backend.store.transaction() as conn:
                        commands.time_out(conn, self.backend.now())
            except Exception:  # the database failed: try again shortly
                if self._stop.is_set():
                    return
                log.exception("fleet bridge: publishing commands failed; retrying")
                self._stop.wait(self._retry_s)

    def _take_batch(self) -> list[tuple[int, mqtt.MQTTMessage]]:
        """Up to a batch of messages; waits up to the poll interval for the first (a wake-up
        ends the wait at once, with the messages already queued or none)."""
        batch: list[tuple[int, mqtt.MQTTMessage]] = []
        try:
            first = self._incoming.get(timeout=self._poll_s if not self._wake.is_set()
                                       else 0.0)
        except queue.Empty:
            self._wake.clear()
            return batch
        if first is None:  # _WAKE
            self._wake.clear()
        else:
            batch.append(first)
        while len(batch) < self._batch_size:
            try:
                item = self._incoming.get_nowait()
            except queue.Empty:
                break
            if item is not None:  # not _WAKE
                batch.append(item)
        return batch

    def _handle_tried(self, batch: list[tuple[int, mqtt.MQTTMessage]]) -> None:
        """Handle a batch, tried again while the database answers; then one message at a
        time (dead-lettering what still fails). :class:`_Unhandled` carries the messages
        left when the database does not answer."""
        for attempt in range(1, BATCH_TRIES + 1):
            try:
                self._handle(batch, report=attempt == 1)
                return
            except Exception as error:
                exc = error
                if isinstance(error, _PartlyDone):  # the rest of the batch is done
                    batch, exc = error.rest, error.cause
                self._check_answers(batch, exc)
                with self._stats_lock:
                    self.stats.batch_retries += 1
                log.warning("fleet bridge: a batch of %d message(s) failed (try %d of %d): %s",
                            len(batch), attempt, BATCH_TRIES, _describe(exc))
                if attempt < BATCH_TRIES and self._stop.wait(self._retry_s):
                    raise _Unhandled(batch) from None
        for index, item in enumerate(batch):
            self._handle_alone(item, batch[index:])

    def _handle_alone(self, item: tuple[int, mqtt.MQTTMessage],
                      left: list[tuple[int, mqtt.MQTTMessage]]) -> None:
        """One message in its own transaction; dead-lettered if it still fails while the
        database answers (``left``: it and the batch's messages after it)."""
        for attempt in range(1, MESSAGE_TRIES + 1):
            try:
                self._handle([item], report=False)
                return
            except Exception as error:
                exc = error.cause if isinstance(error, _PartlyDone) else error
                self._check_answers(left, exc)
                if attempt == MESSAGE_TRIES:
                    self._quarantine(item, left, exc)
                elif self._stop.is_set():
                    raise _Unhandled(left) from None

    def _check_answers(self, left: list[tuple[int, mqtt.MQTTMessage]],
                       exc: BaseException) -> None:
        """Raise :class:`_Unhandled` (``left`` waits) when the bridge is stopping or the
        database does not answer a trivial query."""
        if self._stop.is_set():
            raise _Unhandled(left) from exc
        if _transient(exc):  # a lock, a deadlock, a lost connection: not the message's fault
            with self._stats_lock:
                self.stats.transient_errors += 1
            log.warning("fleet bridge: the database failed for now (%s); %d message(s) wait",
                        _describe(exc), len(left))
            raise _Unhandled(left) from exc
        if not self._database_answers():
            with self._stats_lock:
                self.stats.database_down += 1
            log.warning("fleet bridge: the database does not answer (%s); %d message(s) wait",
                        _describe(exc), len(left))
            raise _Unhandled(left) from exc

    def _database_answers(self) -> bool:
        try:
            with self.backend.store.read() as conn:
                conn.execute("SELECT 1").fetchone()
        except Exception:
            return False
        return True

    def _quarantine(self, item: tuple[int, mqtt.MQTTMessage],
                    left: list[tuple[int, mqtt.MQTTMessage]], exc: BaseException) -> None:
        """Record a refused message as a dead letter, then acknowledge it (``left``: it and
        the messages after it, which wait if it cannot be recorded)."""
        gen, raw = item
        error = _describe(exc)
        try:
            with self.backend.store.transaction() as conn:
                new = dead_letters.record(conn, raw.topic, bytes(raw.payload), error,
                                          self.backend.now())
        except Exception as record_exc:
            log.warning("fleet bridge: could not record a dead letter: %s",
                        _describe(record_exc))
            raise _Unhandled(left) from record_exc
        if new:
            log.error("fleet bridge: the database refused a message on %s for good; "
                      "dead-lettered: %s", raw.topic, error)
        if gen == self._generation and self._connected.is_set():
            self._client.ack(raw.mid, raw.qos)
        with self._progress:
            self.stats.dead_letters += int(new)
            self.stats.received += 1
            self.stats.handled += 1
            self._progress.notify_all()

    def _handle(self, batch: list[tuple[int, mqtt.MQTTMessage]], *,
                report: bool = True) -> None:
        """Apply a batch and acknowledge it; ``report``: log and count the messages dropped
        (False when the same messages are tried again)."""
        now = self.backend.now()
        parsed: list[tuple[mqtt.MQTTMessage, Message | None]] = []
        for _gen, raw in batch:
            try:
                parsed.append((raw, decode_up(raw.topic, raw.payload)))
            except FleetMessageError as exc:
                if report:
                    log.warning("fleet bridge: dropped a malformed message on %s: %s",
                                raw.topic, exc)
                    self.stats.malformed += 1
                parsed.append((raw, None))
        work = fleet_batch.plan(msg for _raw, msg in parsed if msg is not None)
        for msg, reason in work.refused if report else ():
            log.warning("fleet bridge: dropped a %s message of %s: %s", msg.kind,
                        msg.device_id, reason)
            self.stats.dropped += 1
        # Heartbeats and positions folded per vehicle (a few statements for the batch); the
        # other messages by device on several connections at once, each its own transaction.
        # The PUBACKs below wait for the transaction of each message to commit; when one
        # fails, the messages of the transactions that committed are acknowledged and the
        # others raised (_PartlyDone) to be tried again, so none is applied twice.
        groups = fleet_batch.shard(work.one_by_one, self._writers)
        pool = self._pool
        futures = [pool.submit(self._write, {}, group, now) for group in groups[1:]] \
            if pool is not None else []
        failed: list[tuple[list[Message], BaseException]] = []
        first: list[Message] = [m for t in work.telemetry.values()
                                for _at, m in (*t.heartbeats, *t.positions)]
        first += groups[0] if groups else []
        try:
            if first:
                self._write(work.telemetry, groups[0] if groups else [], now)
        except Exception as exc:
            failed.append((first, exc))
        if pool is None:
            for group in groups[1:]:
                try:
                    self._write({}, group, now)
                except Exception as exc:
                    failed.append((group, exc))
        for future, group in zip(futures, groups[1:], strict=True):
            error = future.exception()  # waits for every writer
            if error is not None:
                failed.append((group, error))
        left = {id(m) for group, _exc in failed for m in group}
        done = [(item, raw, msg) for item, (raw, msg) in zip(batch, parsed, strict=True)
                if msg is None or id(msg) not in left]
        # Committed: now the broker may forget them (a message of an earlier connection is
        # delivered again and counted as a duplicate).
        for (gen, _), raw, msg in done:
            if msg is not None:
                self.stats.by_kind[msg.kind] = self.stats.by_kind.get(msg.kind, 0) + 1
            if gen == self._generation and self._connected.is_set():
                self._client.ack(raw.mid, raw.qos)
        with self._progress:
            self.stats.received += len(done)
            self.stats.handled += len(done)
            self._progress.notify_all()
        if failed:
            rest = [item for item, (_raw, msg) in zip(batch, parsed, strict=True)
                    if msg is not None and id(msg) in left]
            raise _PartlyDone(rest, failed[0][1])

    def _write(self, telemetry: dict[str, fleet_batch.VehicleTelemetry],
               messages: list[Message], now: float) -> None:
        """One transaction: folded telemetry, then messages one at a time."""
        with self.backend.store.transaction() as conn:
            fleet_batch.apply_telemetry(conn, telemetry, now)
            for msg in messages:
                self._apply_one(conn, msg, now)

    def _apply_one(self, conn: sqlite3.Connection, msg: Message, now: float) -> None:
        """Apply one message; one whose content is refused is dropped. Only events, which
        may be refused after some of their statements ran, get a savepoint to roll back to
        (the other kinds were checked when decoded)."""
        events = isinstance(msg, Events)
        if events:
            conn.execute("SAVEPOINT fleet_msg")
        try:
            self._apply(conn, msg, now)
        except _POISON as exc:
            if events:
                conn.execute("ROLLBACK TO SAVEPOINT fleet_msg")
            log.warning("fleet bridge: dropped a %s message of %s: %s", msg.kind,
                        msg.device_id, exc)
            with self._stats_lock:
                self.stats.dropped += 1
        if events:
            conn.execute("RELEASE SAVEPOINT fleet_msg")

    def _apply(self, conn: sqlite3.Connection, msg: Message, now: float) -> None:
        if isinstance(msg, Heartbeat):
            state.apply_heartbeat(conn, msg, now)
        elif isinstance(msg, Position):
            state.apply_position(conn, msg, now)
        elif isinstance(msg, Status):
            state.apply_status(conn, msg, now)
        elif isinstance(msg, Alarm):
            state.apply_alarm(conn, msg, now)
        elif isinstance(msg, Ack):
            if commands.apply_ack(conn, msg, now):
                with self._stats_lock:
                    self.stats.acks += 1
        elif isinstance(msg, Events):
            self._ingest_events(conn, msg, now)

    def _ingest_events(self, conn: sqlite3.Connection, msg: Events, now: float) -> None:
        from backend.ingest import check_events, ingest_checked

        caller = self.device_caller(msg.device_id)
        if caller is None:
            log.warning("fleet bridge: %s has no API key, so no role; its %d events are "
                        "refused", msg.device_id, len(msg.events))
            with self._stats_lock:
                self.stats.events_rejected += len(msg.events)
            return
        state.ensure_vehicle(conn, msg.device_id, now)
        conn.execute("UPDATE fleet_vehicles SET online = 1, last_seen = ? WHERE device_id = ?",
                     (now, msg.device_id))
        result = ingest_checked(conn, check_events(list(msg.events), msg.device_id), caller,
                                now)
        with self._stats_lock:
            self.stats.events_accepted += int(result["accepted"])
            self.stats.events_duplicates += int(result["duplicates"])
            self.stats.events_rejected += len(result["rejected"])
        for rejected in result["rejected"][:3]:
            log.info("fleet bridge: %s event %s refused: %s", msg.device_id, rejected["id"],
                     rejected["error"])

    def device_caller(self, device_id: str) -> Caller | None:
        """The device as a caller: the role of its API key (dev mode: the role its id
        suggests); None when a production back end knows no key of it."""
        for entry in self.backend.keyring.api_keys:
            if entry.terminal_id == device_id and entry.usable(self.backend.now()):
                return Caller(device_id, entry.role, f"mqtt:{entry.key_id}")
        if self.backend.settings.dev:
            return Caller(device_id, dev_role(device_id), "mqtt:dev")
        return None

    def _mark_published(self) -> None:
        done: list[str] = []
        while True:
            try:
                mid = self._published.get_nowait()
            except queue.Empty:
                break
            with self._inflight_lock:
                command_id = self._inflight.pop(mid, None)
                if command_id is not None:
                    self._inflight_ids.discard(command_id)
            if command_id is not None:
                done.append(command_id)
        if done:
            now = self.backend.now()
            with self.backend.store.transaction() as conn:
                for command_id in done:
                    commands.mark_published(conn, command_id, now)
            self.stats.commands_published += len(done)

    def _publish_commands(self) -> None:
        with self.backend.store.transaction() as conn:
            pending = commands.to_publish(conn, self.backend.now())
        for cmd in pending:
            with self._inflight_lock:
                if cmd.command_id in self._inflight_ids:
                    continue
                info = self._client.publish(down_topic(cmd.device_id), encode(cmd), qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    log.warning("fleet bridge: could not publish %s: %s", cmd.command_id,
                                mqtt.error_string(info.rc))
                    break
                self._inflight[info.mid] = cmd.command_id
                self._inflight_ids.add(cmd.command_id)


class _Unhandled(Exception):
    """Messages of a batch not handled: they go back to the queue and wait."""

    def __init__(self, items: list[tuple[int, mqtt.MQTTMessage]]) -> None:
        super().__init__(f"{len(items)} message(s) wait")
        self.items = items


class _PartlyDone(Exception):
    """Some transactions of a batch committed (their messages acknowledged), others failed:
    ``rest`` are the messages of the failed ones, ``cause`` the first failure."""

    def __init__(self, rest: list[tuple[int, mqtt.MQTTMessage]], cause: BaseException) -> None:
        super().__init__(f"{len(rest)} message(s) not applied: {cause}")
        self.rest = rest
        self.cause = cause


def _transient(exc: BaseException) -> bool:
    """Whether a database error is of the kind that passes (SQLite's and psycopg's
    ``OperationalError``: busy, locked, deadlock, serialization, connection lost; psycopg's
    ``InterfaceError``), not a refusal of the data."""
    return any(cls.__name__ in ("OperationalError", "InterfaceError")
               and cls.__module__.split(".")[0] in ("sqlite3", "psycopg")
               for cls in type(exc).__mro__)


def _describe(exc: BaseException) -> str:
    """An error in one line: its type and first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
