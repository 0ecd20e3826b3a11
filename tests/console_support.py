"""Helpers for the operator-console tests: sign in over real HTTP, read forms' hidden fields."""

from __future__ import annotations

import re

import requests

from backend.console.links import mint_link_token
from backend.console.operators import dev_operator_key
from backend.server import BackendServer

OPERATOR = "emu-operator-0001"
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden fields of the forms on a page (the last value of each name)."""
    return dict(_HIDDEN.findall(html))


def link_for(server: BackendServer, operator: str = OPERATOR, *, ttl_s: int = 300) -> str:
    """A one-time sign-in link (path and query) for a development operator."""
    key = dev_operator_key(server.settings.signing_seed_hex, operator)
    assert key is not None
    token = mint_link_token(operator_id=operator, key_id=key.key_id, sign_secret=key.sign_secret,
                            now=server.backend.now(), ttl_s=ttl_s)
    return f"/console/link?token={token}"


def sign_in(server: BackendServer, operator: str = OPERATOR) -> requests.Session:
    """A requests session signed in to the console through a one-time link."""
    http = requests.Session()
    page = http.get(server.url + link_for(server, operator), timeout=5)
    assert page.status_code == 200, page.text
    answer = http.post(server.url + "/console/link", data=hidden_fields(page.text),
                       allow_redirects=False, timeout=5)
    assert answer.status_code == 303, answer.text
    return http


def csrf_of(http: requests.Session, server: BackendServer, path: str = "/console/fleet") -> str:
    """The CSRF token shown on a console page."""
    page = http.get(server.url + path, timeout=5)
    assert page.status_code == 200, page.text
    return hidden_fields(page.text)["csrf"]


class ConsoleClock:
    """The back end's clock in these tests: frozen unless a test moves it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class ContractUnit:
    """A lock unit on MQTT as the fleet contract says (a real paho client): retained status,
    heartbeats, and commands answered with an ack once per command id, refused after their
    deadline. ``answer=False`` leaves commands unanswered (a unit gone quiet)."""

    def __init__(self, broker_url: str, device_id: str, password: str,
                 clock: ConsoleClock, *, answer: bool = True) -> None:
        import threading

        import paho.mqtt.client as mqtt

        from payments import fleet_messages as fm

        self.fm = fm
        self.device_id = device_id
        self.clock = clock
        self.answer = answer
        self.lock = "locked"
        self.seq = 0
        self.executed: list[str] = []
        self.acks: dict[str, bytes] = {}
        self._subscribed = threading.Event()
        self._connected = threading.Event()
        host, port = broker_url.removeprefix("mqtt://").rsplit(":", 1)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device_id,
                             clean_session=False, protocol=mqtt.MQTTv311)
        client.username_pw_set(device_id, password)
        client.will_set(fm.up_topic(device_id, "status"),
                        fm.encode(fm.Status(device_id, False, reason="connection_lost")),
                        qos=1, retain=True)
        client.on_connect = lambda *_: self._connected.set()
        client.on_subscribe = lambda *_: self._subscribed.set()
        client.on_message = self._on_command
        client.connect(host, int(port), keepalive=60)
        client.loop_start()
        self.client = client
        assert self._connected.wait(10), "the unit could not connect to the broker"
        client.subscribe(fm.down_topic(device_id), 1)
        assert self._subscribed.wait(10), "the unit could not subscribe to its commands"
        self._publish(fm.Status(device_id, True, self._now()), retain=True)

    def _now(self) -> str:
        return self.fm.format_time(self.clock())

    def _publish(self, msg: object, *, retain: bool = False) -> None:
        info = self.client.publish(self.fm.up_topic(self.device_id, msg.kind),  # type: ignore[attr-defined]
                                   self.fm.encode(msg), qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published(), "no PUBACK from the broker"

    def heartbeat(self, battery_pct: int | None = 76) -> None:
        """Report lock state, battery (None: no gauge) and signal."""
        self.seq += 1
        self._publish(self.fm.Heartbeat(self.device_id, self._now(), self.lock, "idle",
                                        battery_pct, 3880, -71, 60, self.seq))

    def alarm(self, code: str, message: str) -> None:
        """Raise an alarm (e.g. ``jammed``)."""
        self.seq += 1
        self._publish(self.fm.Alarm(self.device_id, self._now(), code, message, self.seq))

    def _on_command(self, client: object, _u: object, raw: object) -> None:
        fm = self.fm
        cmd = fm.decode("command", raw.payload)  # type: ignore[attr-defined]
        if not self.answer:
            return
        if cmd.command_id not in self.acks:
            if cmd.expired(self.clock()):
                status, detail = "expired", "the command arrived after its deadline"
            else:
                self.executed.append(cmd.command_id)
                status, detail = "done", {"find": "beeped and flashed", "unlock": "unlocked",
                                          "lock": "locked"}.get(cmd.command, "done")
                self.lock = {"unlock": "unlocked", "lock": "locked"}.get(cmd.command, self.lock)
            self.acks[cmd.command_id] = fm.encode(fm.Ack(self.device_id, self._now(),
                                                         cmd.command_id, status, detail,
                                                         self.lock))
        client.publish(fm.up_topic(self.device_id, "ack"),  # type: ignore[attr-defined]
                       self.acks[cmd.command_id], qos=1)

    def close(self) -> None:
        """Disconnect cleanly."""
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(check: object, what: str, timeout_s: float = 10.0) -> object:
    """Poll ``check()`` until it is truthy (a bounded wait, no fixed sleeps)."""
    import threading
    import time

    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while time.monotonic() < deadline:
        result = check()  # type: ignore[operator]
        if result:
            return result
        pause.wait(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class FleetStack:
    """A real mosquitto, the back end on loopback and its MQTT bridge, with contract units."""

    def __init__(self, device_ids: list[str], start: float) -> None:
        self.device_ids = device_ids
        self.clock = ConsoleClock(start)
        self.units: list[ContractUnit] = []
        self._stack: list[object] = []

    def __enter__(self) -> FleetStack:
        import contextlib

        import pytest

        from backend.errors import BackendError
        from backend.fleet.bridge import Bridge
        from backend.fleet.broker import Broker, find_mosquitto
        from backend.fleet.credentials import dev_mqtt_password
        from backend.settings import BackendSettings
        from payments.fleet_messages import BACKEND_USER

        try:
            find_mosquitto()
        except BackendError as exc:
            pytest.skip(str(exc))
        self._exits = contextlib.ExitStack()
        try:
            self.broker = self._exits.enter_context(Broker.for_dev(self.device_ids))
            self.server = self._exits.enter_context(
                BackendServer(BackendSettings(clock=self.clock)))
            self.bridge = Bridge(self.server.backend, self.broker.url,
                                 dev_mqtt_password(self.server.settings.signing_seed_hex,
                                                   BACKEND_USER), poll_s=0.05)
            self.bridge.start()
            self._exits.callback(self.bridge.stop)
        except BaseException:
            self._exits.close()
            raise
        return self

    def unit(self, device_id: str, *, answer: bool = True) -> ContractUnit:
        """Connect a unit that follows the contract."""
        from backend.fleet.credentials import dev_mqtt_password

        unit = ContractUnit(self.broker.url, device_id,
                            dev_mqtt_password(self.server.settings.signing_seed_hex, device_id),
                            self.clock, answer=answer)
        self.units.append(unit)
        return unit

    def __exit__(self, *exc: object) -> None:
        for unit in self.units:
            unit.close()
        self._exits.close()
