"""Test helpers for the unit's fleet link: a client in the back end's seat, waits on conditions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from payments.fleet_messages import BACKEND_USER, Message, encode, parse_topic, up_filter


class Seen:
    """Messages one client received, with a way to wait for a condition on them."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, dict[str, Any]]] = []  # (device, kind, body)
        self._cond = threading.Condition()

    def add(self, device: str, kind: str, body: dict[str, Any]) -> None:
        with self._cond:
            self.items.append((device, kind, body))
            self._cond.notify_all()

    def of(self, kind: str, device: str | None = None) -> list[dict[str, Any]]:
        """Bodies of ``kind`` (from ``device``), in arrival order."""
        with self._cond:
            return [b for d, k, b in self.items if k == kind and device in (None, d)]

    def wait(self, check: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Wait until ``check()`` holds; AssertionError after ``timeout_s``."""
        end = time.monotonic() + timeout_s
        with self._cond:
            while not check():
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"condition not met within {timeout_s} s; seen: "
                                         f"{[(d, k) for d, k, _ in self.items][-20:]}")
                self._cond.wait(min(left, 0.2))


class BackendSeat:
    """A paho client signed in as the back end: hears every device's up topics, sends commands
    (a persistent session, so nothing published while it reconnects is lost)."""

    def __init__(self, host: str, port: int, password: str, *, user: str = BACKEND_USER) -> None:
        self.seen = Seen()
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user,
                                  clean_session=False)
        self.client.username_pw_set(user, password)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        assert self._ready.wait(10), "the back end's client did not subscribe"

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(up_filter(), qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: Any) -> None:
        topic = parse_topic(message.topic)
        self.seen.add(topic.device_id, topic.kind, json.loads(message.payload))

    def send(self, topic: str, msg: Message) -> None:
        """Publish ``msg`` at QoS 1 and wait for the broker's PUBACK."""
        self.client.publish(topic, encode(msg), qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until ``check()`` holds (re-checked every 20 ms); AssertionError after the time-out."""
    end = time.monotonic() + timeout_s
    pause = threading.Event()
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout_s} s")
        pause.wait(0.02)
