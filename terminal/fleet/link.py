"""The unit's MQTT connection (paho-mqtt 2): one device identity, persistent session, QoS 1.

- Client id and user name are the device id; the session is persistent (clean session off),
  so commands sent while the unit was away are delivered when it is back.
- The last will (retained, QoS 1) on ``up/status`` says ``online: false, reason:
  connection_lost``; on every connect the unit publishes a retained ``online: true`` and on a
  clean stop a retained ``online: false, reason: shutdown``.
- paho's network thread connects and reconnects, waiting ``reconnect_min_s`` doubling up to
  ``reconnect_max_s`` between attempts. Credentials are never logged.
- :meth:`MqttLink.publish` sends at QoS 1 and returns the message id; :meth:`wait_acked` waits
  for the broker's PUBACK of it.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from payments.fleet_messages import Message, Status, down_topic, encode, format_time, up_topic
from terminal.fleet.errors import FleetError
from terminal.fleet.settings import FleetSettings

log = logging.getLogger(__name__)

# PUBACKs remembered for waiters (message ids wrap at 65535, far beyond this).
_ACKED_KEPT = 4096


class MqttLink:
    """A device's connection to the broker; :meth:`start` it, :meth:`stop` it (idempotent)."""

    def __init__(self, settings: FleetSettings, *, wall: Callable[[], float] = time.time,
                 on_command: Callable[[bytes], None] | None = None,
                 on_connected: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.device_id = settings.device_id
        self._wall = wall
        self._on_command = on_command
        self._on_connected = on_connected
        self._command_topic = down_topic(self.device_id)
        self._status_topic = up_topic(self.device_id, "status")
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._acked: OrderedDict[int, None] = OrderedDict()
        self._acked_cond = threading.Condition()
        self._subscribe_mid: int | None = None
        self._last_refusal: str | None = None
        self._started = False
        self.connects = 0
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s.device_id,
                             clean_session=False, protocol=mqtt.MQTTv311)
        client.username_pw_set(s.device_id, s.password)
        client.will_set(self._status_topic, _status(self.device_id, False, "connection_lost"),
                        qos=1, retain=True)
        client.reconnect_delay_set(min_delay=max(1, round(s.reconnect_min_s)),
                                   max_delay=max(1, round(s.reconnect_max_s)))
        if s.tls:
            client.tls_set(ca_certs=s.ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = self._connected_cb
        client.on_disconnect = self._disconnected_cb
        client.on_message = self._message_cb
        client.on_publish = self._published_cb
        client.on_subscribe = self._subscribed_cb
        return client

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> MqttLink:
        """Connect in the background (and keep reconnecting); returns self."""
        if self._started:
            return self
        self._started = True
        s = self.settings
        log.info("fleet: connecting to %s:%d as %s (%s)", s.host, s.port, s.device_id,
                 "TLS" if s.tls else "no TLS")
        try:
            self._client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        except (OSError, ValueError) as exc:
            raise FleetError(f"fleet: cannot connect to {s.host}:{s.port}: {exc}") from None
        self._client.loop_start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Say offline (retained), disconnect and stop the network thread; safe to call twice."""
        if not self._started:
            return
        self._started = False
        if self._connected.is_set():
            info = self._client.publish(self._status_topic,
                                        _status(self.device_id, False, "shutdown", self._wall()),
                                        qos=1, retain=True)
            self.wait_acked(info.mid, timeout_s)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    @property
    def connected(self) -> bool:
        """True while connected (and the command subscription is in place)."""
        return self._connected.is_set() and self._subscribed.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until connected and subscribed; False after ``timeout_s``."""
        end = time.monotonic() + timeout_s
        if not self._connected.wait(timeout_s):
            return False
        return self._subscribed.wait(max(0.0, end - time.monotonic()))

    # -- sending -------------------------------------------------------------------------------

    def publish(self, msg: Message, *, retain: bool = False,
                queue_offline: bool = False) -> int | None:
        """Publish ``msg`` on its up topic at QoS 1; its message id, or None when offline and
        ``queue_offline`` is false (paho sends queued messages after reconnecting)."""
        if not self._connected.is_set() and not queue_offline:
            return None
        info = self._client.publish(up_topic(self.device_id, msg.kind), encode(msg), qos=1,
                                    retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("fleet: %s not queued: %s", msg.kind, mqtt.error_string(info.rc))
            return None
        return info.mid

    def wait_acked(self, mid: int, timeout_s: float) -> bool:
        """Wait for the broker's PUBACK of message ``mid``; False after ``timeout_s``."""
        end = time.monotonic() + timeout_s
        with self._acked_cond:
            while mid not in self._acked:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._acked_cond.wait(left)
            del self._acked[mid]
            return True

    # -- paho callbacks (network thread) -------------------------------------------------------

    def _connected_cb(self, client: mqtt.Client, _userdata: Any, flags: Any,
                      reason: Any, _props: Any) -> None:
        if reason.is_failure:
            text = str(reason)
            if text != self._last_refusal:  # once per reason, not on every retry
                log.warning("fleet: broker refused %s: %s", self.device_id, text)
                self._last_refusal = text
            return
        self._last_refusal = None
        self.connects += 1
        log.info("fleet: connected as %s (session %s)", self.device_id,
                 "resumed" if getattr(flags, "session_present", False) else "new")
        self._subscribed.clear()
        _result, self._subscribe_mid = client.subscribe(self._command_topic, qos=1)
        client.publish(self._status_topic, _status(self.device_id, True, None, self._wall()),
                       qos=1, retain=True)
        self._connected.set()

    def _subscribed_cb(self, _client: mqtt.Client, _userdata: Any, mid: int, reasons: Any,
                       _props: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("fleet: the broker refused the command subscription of %s",
                      self.device_id)
            return
        self._subscribed.set()
        if self._on_connected is not None:
            try:
                self._on_connected()
            except Exception:
                log.exception("fleet: connected listener failed")

    def _disconnected_cb(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                         reason: Any, _props: Any) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        self._subscribed.clear()
        if was and self._started:
            log.warning("fleet: connection lost (%s); reconnecting", reason)

    def _message_cb(self, _client: mqtt.Client, _userdata: Any, message: Any) -> None:
        if message.topic != self._command_topic or self._on_command is None:
            return
        try:
            self._on_command(bytes(message.payload))
        except Exception:  # a command must never stop the network thread
            log.exception("fleet: command handling failed")

    def _published_cb(self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any,
                      _props: Any) -> None:
        with self._acked_cond:
            self._acked[mid] = None
            while len(self._acked) > _ACKED_KEPT:
                self._acked.popitem(last=False)
            self._acked_cond.notify_all()


def _status(device_id: str, online: bool, reason: str | None,
            now: float | None = None) -> bytes:
    return encode(Status(device_id=device_id, online=online, reason=reason,
                         sent_at=None if now is None else format_time(now)))
