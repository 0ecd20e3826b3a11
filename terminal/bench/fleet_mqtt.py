"""A small asyncio MQTT 3.1.1 client for the fleet simulator (many connections, one process).

Paho's client runs a network thread per connection; ten thousand of them do not fit in one
process on a small machine. The simulator needs only a subset of MQTT 3.1.1 (OASIS standard,
2014): CONNECT with username, password and a last will, CONNACK, SUBSCRIBE / SUBACK, PUBLISH at
QoS 0 and 1 in both directions with PUBACK, PINGREQ / PINGRESP and DISCONNECT. Each client is
one TCP connection and one reader task on the shared event loop. QoS 2 is refused (the fleet
contract uses QoS 1 only).

A QoS 1 message the broker sends is handed to ``on_message`` and acknowledged after the handler
returns, so a message whose handler never ran is redelivered by the broker (persistent session).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from terminal.errors import TerminalError

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14
MAX_REMAINING = 268_435_455
CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class MqttError(TerminalError):
    """The broker refused us, broke the protocol, or the connection is gone."""


@dataclass(frozen=True)
class Will:
    """The message the broker publishes for us when our connection is lost."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class Message:
    """A PUBLISH received from the broker."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool


MessageHandler = Callable[[Message], Awaitable[None]]


def encode_length(n: int) -> bytes:
    """The variable-length "remaining length" of a fixed header (1-4 bytes)."""
    if not 0 <= n <= MAX_REMAINING:
        raise MqttError(f"an MQTT packet cannot carry {n} bytes")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(value: str | bytes) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if len(raw) > 0xFFFF:
        raise MqttError("an MQTT string is at most 65535 bytes")
    return struct.pack("!H", len(raw)) + raw


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + encode_length(len(body)) + body


def connect_packet(client_id: str, *, username: str | None, password: str | None,
                   keepalive_s: int, clean_session: bool, will: Will | None) -> bytes:
    """A CONNECT packet (protocol level 4)."""
    flags = 0x02 if clean_session else 0
    payload = _text(client_id)
    if will is not None:
        if will.qos not in (0, 1):
            raise MqttError("the will's QoS must be 0 or 1")
        flags |= 0x04 | will.qos << 3 | (0x20 if will.retain else 0)
        payload += _text(will.topic) + _text(will.payload)
    if username is not None:
        flags |= 0x80
        payload += _text(username)
    if password is not None:
        if username is None:
            raise MqttError("MQTT 3.1.1 sends a password only with a user name")
        flags |= 0x40
        payload += _text(password)
    header = _text("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s)
    return _packet(CONNECT, 0, header + payload)


def publish_packet(topic: str, payload: bytes, *, qos: int, retain: bool, packet_id: int = 0,
                   dup: bool = False) -> bytes:
    """A PUBLISH packet at QoS 0 or 1."""
    if qos not in (0, 1):
        raise MqttError("this client publishes at QoS 0 or 1")
    if any(ch in topic for ch in "+#") or not topic:
        raise MqttError(f"cannot publish to {topic!r}: a topic name has no wildcards")
    flags = (0x08 if dup else 0) | qos << 1 | (0x01 if retain else 0)
    body = _text(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return _packet(PUBLISH, flags, body)


def subscribe_packet(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    """A SUBSCRIBE packet (flags 0b0010 as the standard requires)."""
    body = struct.pack("!H", packet_id)
    for topic, qos in filters:
        body += _text(topic) + bytes([qos])
    return _packet(SUBSCRIBE, 0x02, body)


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    """Read one packet: (type, flags, body)."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    else:
        raise MqttError("malformed remaining length from the broker")
    body = await reader.readexactly(length) if length else b""
    return first >> 4, first & 0x0F, body


def parse_publish(flags: int, body: bytes) -> tuple[Message, int]:
    """A received PUBLISH and its packet id (0 at QoS 0)."""
    qos = (flags >> 1) & 0x03
    if qos > 1:
        raise MqttError("the broker sent QoS 2, which this client never subscribes to")
    (tlen,) = struct.unpack_from("!H", body, 0)
    topic = body[2:2 + tlen].decode("utf-8")
    pos = 2 + tlen
    packet_id = 0
    if qos:
        (packet_id,) = struct.unpack_from("!H", body, pos)
        pos += 2
    return Message(topic, body[pos:], qos, bool(flags & 0x01), bool(flags & 0x08)), packet_id


async def _ignore(_message: Message) -> None:
    return None


class MqttClient:
    """One MQTT 3.1.1 connection on the running event loop.

    ``connect`` opens it and waits for CONNACK; ``publish(qos=1)`` returns when the broker's
    PUBACK arrives; ``subscribe`` when SUBACK does. ``ping_if_idle`` keeps the session alive
    without a timer task per client (the owner calls it from its own loop).
    """

    def __init__(self, client_id: str, *, host: str, port: int, username: str | None = None,
                 password: str | None = None, keepalive_s: int = 60, clean_session: bool = False,
                 will: Will | None = None, on_message: MessageHandler = _ignore,
                 on_lost: Callable[[], None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.client_id = client_id
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.keepalive_s = keepalive_s
        self.clean_session = clean_session
        self.will = will
        self.on_message = on_message
        # Called when the connection ends without our asking (the owner reconnects).
        self.on_lost = on_lost
        self._closing = False
        self._clock = clock or asyncio.get_event_loop().time
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._last_sent = 0.0
        self.session_present = False
        self.closed_reason: str | None = None

    @property
    def connected(self) -> bool:
        """Whether the connection is open and its reader running."""
        return self._task is not None and not self._task.done()

    async def connect(self, timeout_s: float = 30.0) -> bool:
        """Connect and wait for CONNACK; returns whether the broker kept our session."""
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout_s)
        except (OSError, TimeoutError) as exc:
            raise MqttError(f"{self.client_id}: cannot reach the broker at "
                            f"{self.host}:{self.port}: {exc or 'timed out'}") from None
        self._send(connect_packet(self.client_id, username=self.username,
                                  password=self.password, keepalive_s=self.keepalive_s,
                                  clean_session=self.clean_session, will=self.will))
        try:
            kind, _flags, body = await asyncio.wait_for(read_packet(self._reader), timeout_s)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            self._close_transport()
            raise MqttError(f"{self.client_id}: the broker closed the connection before "
                            "CONNACK") from None
        if kind != CONNACK or len(body) != 2:
            self._close_transport()
            raise MqttError(f"{self.client_id}: expected CONNACK, got packet type {kind}")
        if body[1]:
            self._close_transport()
            reason = CONNACK_REASONS.get(body[1], f"code {body[1]}")
            raise MqttError(f"{self.client_id}: the broker refused the connection: {reason}")
        self.session_present = bool(body[0] & 0x01)
        self.closed_reason = None
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        return self.session_present

    def _packet_id(self) -> int:
        for _ in range(0xFFFF):
            self._next_id = self._next_id % 0xFFFF + 1
            if self._next_id not in self._pending:
                return self._next_id
        raise MqttError(f"{self.client_id}: 65535 messages in flight")

    def _send(self, data: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise MqttError(f"{self.client_id}: not connected ({self.closed_reason or 'closed'})")
        self._writer.write(data)
        self._last_sent = self._clock()

    async def _request(self, build: Callable[[int], bytes], timeout_s: float) -> bytes:
        packet_id = self._packet_id()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[packet_id] = future
        try:
            self._send(build(packet_id))
            assert self._writer is not None
            await self._writer.drain()
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise MqttError(f"{self.client_id}: no acknowledgement within {timeout_s} s") \
                from None
        except ConnectionError as exc:
            raise MqttError(f"{self.client_id}: connection lost: {exc}") from None
        finally:
            self._pending.pop(packet_id, None)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                      timeout_s: float = 60.0) -> None:
        """Publish; at QoS 1 wait for the broker's PUBACK (the message is then the broker's)."""
        if qos == 0:
            self._send(publish_packet(topic, payload, qos=0, retain=retain))
            return
        await self._request(lambda pid: publish_packet(topic, payload, qos=1, retain=retain,
                                                       packet_id=pid), timeout_s)

    async def subscribe(self, filters: list[tuple[str, int]], timeout_s: float = 30.0) -> None:
        """Subscribe and wait for SUBACK; a refused filter raises :class:`MqttError`."""
        codes = await self._request(lambda pid: subscribe_packet(pid, filters), timeout_s)
        refused = [topic for (topic, _), code in zip(filters, codes, strict=False)
                   if code == 0x80]
        if refused or len(codes) != len(filters):
            raise MqttError(f"{self.client_id}: the broker refused the subscription to "
                            f"{', '.join(refused) or 'some filters'}")

    def ping_if_idle(self) -> None:
        """Send PINGREQ when nothing was sent for half the keep-alive interval."""
        if self.connected and self._clock() - self._last_sent >= self.keepalive_s / 2:
            self._send(bytes([PINGREQ << 4, 0]))

    async def _read_loop(self) -> None:
        reader, writer = self._reader, self._writer
        assert reader is not None
        try:
            while True:
                kind, flags, body = await read_packet(reader)
                if kind == PUBLISH:
                    message, packet_id = parse_publish(flags, body)
                    await self.on_message(message)
                    if message.qos == 1:
                        self._send(_packet(PUBACK, 0, struct.pack("!H", packet_id)))
                elif kind in (PUBACK, SUBACK):
                    (packet_id,) = struct.unpack_from("!H", body, 0)
                    future = self._pending.get(packet_id)
                    if future is not None and not future.done():
                        future.set_result(body[2:])
                elif kind == PINGRESP:
                    continue
                else:
                    raise MqttError(f"unexpected packet type {kind} from the broker")
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            self.closed_reason = "the broker closed the connection"
        except MqttError as exc:
            self.closed_reason = str(exc)
        finally:
            current = self._writer is writer
            if current:  # not a connection made since, which is not ours to close
                self._fail_pending()
                self._close_transport()
            elif writer is not None:
                writer.close()
        if current and not self._closing and self.on_lost is not None:
            self.on_lost()

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(self.closed_reason or "connection closed"))

    def _close_transport(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = None

    async def disconnect(self) -> None:
        """Send DISCONNECT (the broker then drops our will) and close."""
        self._closing = True
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(bytes([DISCONNECT << 4, 0]))
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()
        await self.abort()

    async def abort(self) -> None:
        """Close the connection without DISCONNECT (the broker publishes our will)."""
        self._closing = True
        self.closed_reason = self.closed_reason or "closed by us"
        self._close_transport()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
