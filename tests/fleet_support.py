"""Real paho-mqtt clients for the fleet tests: connect, publish with PUBACK, collect messages."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest

from backend.errors import BackendError
from backend.fleet.broker import find_mosquitto

WAIT_S = 5.0


def need_mosquitto() -> None:
    """Skip the test when mosquitto is not installed."""
    try:
        find_mosquitto()
    except BackendError as exc:
        pytest.skip(str(exc))


@dataclass
class LinkClient:
    """A connected paho client and the messages it received."""

    client: mqtt.Client
    received: queue.Queue[mqtt.MQTTMessage] = field(default_factory=queue.Queue)
    connect_rc: int | None = None
    connected: threading.Event = field(default_factory=threading.Event)
    subacks: queue.Queue[list[int]] = field(default_factory=queue.Queue)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait for the broker's PUBACK."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(WAIT_S)
        assert info.is_published(), f"no PUBACK for {topic}"

    def subscribe(self, topic: str, qos: int = 1) -> list[int]:
        """Subscribe and return the SUBACK reason codes (128 or more: refused)."""
        self.client.subscribe(topic, qos)
        return self.subacks.get(timeout=WAIT_S)

    def next_message(self, timeout: float = WAIT_S) -> mqtt.MQTTMessage:
        """The next message received."""
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        """Disconnect cleanly (no last will) and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """Break the connection without DISCONNECT, as a lost unit would (last will fires)."""
        sock = self.client.socket()
        self.client.loop_stop()
        if sock is not None:
            sock.close()


def connect(url: str, user: str, password: str | None, *, client_id: str | None = None,
            clean: bool = False, will: tuple[str, bytes] | None = None,
            expect_ok: bool = True, keepalive: int = 60,
            on_message: Callable[[mqtt.Client, object, mqtt.MQTTMessage], None] | None = None
            ) -> LinkClient:
    """A paho client (MQTT 3.1.1) connected to ``url`` as ``user`` (``on_message``: handle
    messages yourself instead of queueing them)."""
    parts = urlsplit(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or user,
                         clean_session=clean, protocol=mqtt.MQTTv311)
    if password is not None:
        client.username_pw_set(user, password)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    tc = LinkClient(client)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode,
                   _p: object) -> None:
        tc.connect_rc = rc.value
        tc.connected.set()

    def queue_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        tc.received.put(msg)

    def on_subscribe(_c: mqtt.Client, _u: object, _mid: int, codes: list[mqtt.ReasonCode],
                     _p: object) -> None:
        tc.subacks.put([c.value for c in codes])

    client.on_connect = on_connect
    # Set before connecting: a persistent session delivers queued messages right after CONNACK.
    client.on_message = queue_message if on_message is None else on_message
    client.on_subscribe = on_subscribe
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, keepalive=keepalive)
    client.loop_start()
    assert tc.connected.wait(WAIT_S), "no CONNACK"
    if expect_ok:
        assert tc.connect_rc == 0, f"connect refused: {tc.connect_rc}"
    else:
        client.loop_stop()
    return tc
