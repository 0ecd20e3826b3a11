"""A bike-lock unit's fleet link against a real mosquitto (started per test on a loopback port,
with per-device passwords and ACLs) and the reference back end over loopback HTTP.

A paho client signed in as the back end plays the bridge's seat: it hears every device's up
topics and sends commands. Nothing sleeps: every wait is on a condition with a time-out.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hardware.emulated.clock import ManualClock
from hardware.emulated.indicator import EmulatedIndicator
from hardware.emulated.lock import EmulatedLock
from hardware.ports import Beep, IndicatorState, Position
from payments.fleet_messages import (
    BACKEND_USER,
    Command,
    down_topic,
    make_command,
    up_topic,
)
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.states import RideState
from terminal.config import default_config_path, load_config
from terminal.emulator.session import Emulator
from terminal.fleet.settings import FleetSettings
from tests.fleet_support import need_mosquitto
from tests.fleet_unit_support import BackendSeat, eventually

ROOT = Path(__file__).resolve().parents[1]
BASE = load_config(default_config_path("emulator"))
UNIT = BASE.terminal.id
OTHER = "bike-0002"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(BASE, state_dir=tmp_path_factory.mktemp("backend")) as emu:
        yield emu


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    need_mosquitto()
    from backend.fleet.broker import Broker

    with Broker.for_dev([UNIT, OTHER], directory=tmp_path / "mqtt") as running:
        yield running


@pytest.fixture
def backend(broker: Any) -> Iterator[BackendSeat]:
    seat = BackendSeat(broker.host, broker.port, broker.password_of(BACKEND_USER))
    yield seat
    seat.close()


def _settings(broker: Any, device: str = UNIT, **changes: Any) -> FleetSettings:
    return FleetSettings(device_id=device, host=broker.host, port=broker.port,
                         password=broker.password_of(device), reconnect_min_s=1.0,
                         reconnect_max_s=2.0, **changes)


def _unit(emulator: Emulator, tmp: Path, broker: Any, *, lock: EmulatedLock | None = None,
          indicator: EmulatedIndicator | None = None,
          clock: ManualClock | None = None,
          unit_clock: ManualClock | None = None) -> BikeLockStack:
    config = dataclasses.replace(BASE, lock=dataclasses.replace(BASE.lock, low_battery_pct=15))
    return BikeLockStack(config, emulator.endpoints(), state_dir=tmp / "unit",
                         clock=unit_clock or ManualClock(time.time()),
                         lock=lock or EmulatedLock(),
                         indicator=indicator or EmulatedIndicator(),
                         fleet=_settings(broker), fleet_clock=clock or ManualClock(0.0),
                         fleet_tick_s=0)


def _started(stack: BikeLockStack) -> BikeLockStack:
    assert stack.fleet is not None
    stack.fleet.start()
    assert stack.fleet.link.wait_connected(10), "the unit did not connect to the broker"
    return stack


def _command(backend: BackendSeat, name: str, args: dict[str, int] | None = None, *,
             now: float | None = None, deadline_s: float = 30.0,
             command_id: str | None = None) -> Command:
    cmd = make_command(UNIT, name, args, now=time.time() if now is None else now,
                       deadline_s=deadline_s, command_id=command_id)
    backend.send(down_topic(UNIT), cmd)
    return cmd


def _ack(backend: BackendSeat, cmd: Command, count: int = 1) -> dict[str, Any]:
    def acks() -> list[dict[str, Any]]:
        return [a for a in backend.seen.of("ack", UNIT) if a["command_id"] == cmd.command_id]

    backend.seen.wait(lambda: len(acks()) >= count)
    return acks()[count - 1]


# -- reports -----------------------------------------------------------------------------------


def test_heartbeat_and_position_go_out_at_the_interval_on_the_injected_clock(
        emulator: Emulator, broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    clock = ManualClock(0.0)
    lock = EmulatedLock(battery=80.0, position=Position(31.2304, 121.4737, 5.0))
    with _started(_unit(emulator, tmp_path, broker, lock=lock, clock=clock)) as stack:
        fleet = stack.fleet
        assert fleet is not None
        backend.seen.wait(lambda: any(s["online"] for s in backend.seen.of("status", UNIT)))
        fleet.tick()  # the first tick after connecting reports at once
        backend.seen.wait(lambda: len(backend.seen.of("heartbeat", UNIT)) == 1)
        clock.advance(59.0)
        fleet.tick()
        assert fleet.reporter.heartbeats == 1  # not due yet
        clock.advance(1.0)
        fleet.tick()
        backend.seen.wait(lambda: len(backend.seen.of("heartbeat", UNIT)) == 2
                          and len(backend.seen.of("position", UNIT)) == 2)
        first, second = backend.seen.of("heartbeat", UNIT)
        assert first["lock"] == "locked" and first["unit_state"] == "idle"
        assert first["battery_pct"] == 80 and first["interval_s"] == 60
        assert second["seq"] > first["seq"]
        where = backend.seen.of("position", UNIT)[-1]
        assert (where["lat"], where["lon"], where["accuracy_m"]) == (31.2304, 121.4737, 5.0)
        assert fleet.reporter.heartbeats == 2


def test_a_low_battery_raises_one_alarm_until_it_is_charged(
        emulator: Emulator, broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    lock = EmulatedLock(battery=12.0)
    with _started(_unit(emulator, tmp_path, broker, lock=lock)) as stack:
        assert stack.fleet is not None
        stack.fleet.tick()
        stack.fleet.tick()
        backend.seen.wait(lambda: len(backend.seen.of("alarm", UNIT)) == 1)
        assert backend.seen.of("alarm", UNIT)[0]["code"] == "low_battery"
        lock.set_battery(90.0)
        stack.fleet.tick()
        lock.set_battery(10.0)
        stack.fleet.tick()
        backend.seen.wait(lambda: len(backend.seen.of("alarm", UNIT)) == 2)
        assert stack.fleet.reporter.alarms == ["low_battery", "low_battery"]


def test_a_ride_past_the_time_limit_raises_the_lock_timeout_alarm(
        emulator: Emulator, broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    lock, unit_clock = EmulatedLock(), ManualClock(time.time())
    with _started(_unit(emulator, tmp_path, broker, lock=lock,
                        unit_clock=unit_clock)) as stack:
        assert stack.fleet is not None
        stack.unit.present_code(emulator.wallet_code("rider-good"))
        assert stack.unit.state is RideState.RIDING
        stack.fleet.tick()
        unit_clock.advance(BASE.ride.on_time_limit_h * 3600 + 60)  # a day and a minute
        stack.fleet.tick()
        stack.fleet.tick()
        backend.seen.wait(lambda: bool(backend.seen.of("alarm", UNIT)))
        assert [a["code"] for a in backend.seen.of("alarm", UNIT)] == ["lock_timeout"]
        lock.close_latch()  # the late return ends the ride; the alarm clears on the unit
        stack.fleet.tick()
        assert stack.fleet.reporter.alarms == ["lock_timeout"]


# -- events from the outbox --------------------------------------------------------------------


def _ride(emulator: Emulator, stack: BikeLockStack, lock: EmulatedLock) -> None:
    stack.unit.present_code(emulator.wallet_code("rider-good"))
    assert stack.unit.state is RideState.RIDING
    lock.close_latch()
    assert stack.unit.state is RideState.IDLE


def test_outbox_events_arrive_once_and_survive_a_broker_restart(
        emulator: Emulator, broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    lock = EmulatedLock()
    with _started(_unit(emulator, tmp_path, broker, lock=lock)) as stack:
        assert stack.fleet is not None and stack.uploader is stack.fleet.drain
        _ride(emulator, stack, lock)
        first = {p.event.id for p in stack.outbox.pending(100)}
        assert len(first) >= 3
        stack.uploader.notify()

        def arrived() -> list[str]:
            return [e["id"] for b in backend.seen.of("events", UNIT) for e in b["events"]]

        backend.seen.wait(lambda: first <= set(arrived()))
        eventually(lambda: stack.outbox.counts().pending == 0)  # after the PUBACK

        broker.stop(remove=False)  # the broker goes away; the unit keeps working offline
        _ride(emulator, stack, lock)
        second = {p.event.id for p in stack.outbox.pending(100)}
        assert second and not second & first
        report = stack.uploader.run_once()
        assert report.skipped and stack.outbox.counts().pending == len(second)

        broker.start()  # same port and directory: sessions persist
        assert stack.fleet.link.wait_connected(15)
        backend.seen.wait(lambda: second <= set(arrived()), timeout_s=15)
        eventually(lambda: stack.outbox.counts().pending == 0)
        seen = arrived()
        assert sorted(seen) == sorted(first | second)  # each once, none twice
        body = backend.seen.of("events", UNIT)[0]
        assert body["device_id"] == UNIT and body["events"][0]["terminal_id"] == UNIT


# -- the last will -----------------------------------------------------------------------------

_UNIT_PROCESS = """
import sys
from terminal.fleet.link import MqttLink
from terminal.fleet.settings import FleetSettings
device, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
link = MqttLink(FleetSettings(device_id=device, host=host, port=port,
                              password=sys.stdin.readline().strip())).start()
print("ready" if link.wait_connected(10) else "no connection", flush=True)
sys.stdin.read()
"""


def test_a_killed_unit_is_reported_offline_by_its_last_will(
        broker: Any, backend: BackendSeat) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _UNIT_PROCESS, OTHER, broker.host,
                             str(broker.port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            cwd=ROOT, text=True)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(broker.password_of(OTHER) + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ready"
        backend.seen.wait(lambda: any(s["online"] for s in backend.seen.of("status", OTHER)))
        proc.kill()  # no clean disconnect: the broker sends the will
        proc.wait(10)
        backend.seen.wait(lambda: not backend.seen.of("status", OTHER)[-1]["online"])
        will = backend.seen.of("status", OTHER)[-1]
        assert will == {"v": 1, "device_id": OTHER, "online": False,
                        "reason": "connection_lost"}
    finally:
        proc.kill()
        proc.wait(10)


def test_a_clean_stop_says_shutdown(emulator: Emulator, broker: Any, backend: BackendSeat,
                                    tmp_path: Path) -> None:
    with _started(_unit(emulator, tmp_path, broker)):
        backend.seen.wait(lambda: any(s["online"] for s in backend.seen.of("status", UNIT)))
    backend.seen.wait(lambda: not backend.seen.of("status", UNIT)[-1]["online"])
    assert backend.seen.of("status", UNIT)[-1]["reason"] == "shutdown"


# -- commands ----------------------------------------------------------------------------------


def test_every_command_is_acknowledged_and_a_remote_unlock_is_a_service_action(
        emulator: Emulator, broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    lock, light = EmulatedLock(), EmulatedIndicator()
    with _started(_unit(emulator, tmp_path, broker, lock=lock, indicator=light)) as stack:
        assert stack.fleet is not None
        ack = _ack(backend, _command(backend, "unlock"))
        assert (ack["status"], ack["lock"]) == ("done", "unlocked")
        assert not lock.is_closed and stack.unit.in_service
        assert stack.unit.state is RideState.IDLE and stack.unit.events_logged == 0  # no fare
        stack.fleet.tick()
        backend.seen.wait(lambda: bool(backend.seen.of("heartbeat", UNIT)))
        assert backend.seen.of("heartbeat", UNIT)[-1]["unit_state"] == "service"

        refused = stack.unit.present_code(emulator.wallet_code("rider-good"))
        assert refused.failure == "in_service" and lock.events().count("unlock") == 1

        ack = _ack(backend, _command(backend, "lock"))
        assert (ack["status"], ack["lock"]) == ("failed", "unlocked")  # the latch is open
        lock.close_latch()
        assert not stack.unit.in_service  # the latch closing ends the service
        ack = _ack(backend, _command(backend, "lock"))
        assert (ack["status"], ack["lock"]) == ("done", "locked")

        ack = _ack(backend, _command(backend, "find"))
        assert ack["status"] == "done"
        assert light.beeps[-1] is Beep.DECLINED and light.state is IndicatorState.ATTENTION

        ack = _ack(backend, _command(backend, "set_interval", {"heartbeat_s": 30}))
        assert ack["status"] == "done"
        assert stack.fleet.reporter.interval_s == 30 and stack.fleet.store.interval_s() == 30


def test_a_command_past_its_deadline_is_not_executed(
        emulator: Emulator, broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    lock = EmulatedLock()
    with _started(_unit(emulator, tmp_path, broker, lock=lock)):
        cmd = _command(backend, "unlock", now=time.time() - 120, deadline_s=60)
        ack = _ack(backend, cmd)
        assert (ack["status"], ack["lock"]) == ("expired", "locked")
        assert lock.is_closed and "unlock" not in lock.events()


def test_a_repeated_command_id_runs_once_and_gets_its_first_ack_again(
        emulator: Emulator, broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    lock = EmulatedLock()
    with _started(_unit(emulator, tmp_path, broker, lock=lock)) as stack:
        cmd = _command(backend, "unlock")
        first = _ack(backend, cmd)
        backend.send(down_topic(UNIT), cmd)
        again = _ack(backend, cmd, count=2)
        assert again == first and first["status"] == "done"
        assert lock.events().count("unlock") == 1
        assert stack.fleet is not None and stack.fleet.commands.executed == 1


def test_a_repeated_command_id_is_remembered_across_a_restart(
        emulator: Emulator, broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    lock = EmulatedLock()
    with _started(_unit(emulator, tmp_path, broker, lock=lock)):
        cmd = _command(backend, "find")
        first = _ack(backend, cmd)
    with _started(_unit(emulator, tmp_path, broker, lock=lock)) as stack:
        backend.send(down_topic(UNIT), cmd)
        assert _ack(backend, cmd, count=2) == first
        assert stack.fleet is not None and stack.fleet.commands.executed == 0


def test_a_remote_unlock_during_a_ride_is_refused(
        emulator: Emulator, broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    lock = EmulatedLock()
    with _started(_unit(emulator, tmp_path, broker, lock=lock)) as stack:
        stack.unit.present_code(emulator.wallet_code("rider-good"))
        assert stack.unit.state is RideState.RIDING
        ack = _ack(backend, _command(backend, "unlock"))
        assert (ack["status"], ack["lock"]) == ("refused", "unlocked")
        assert "ride" in ack["detail"]
        ack = _ack(backend, _command(backend, "lock"))
        assert ack["status"] == "refused"
        assert stack.unit.state is RideState.RIDING and not stack.unit.in_service
        lock.close_latch()
        assert stack.unit.state is RideState.IDLE


def test_a_jammed_remote_unlock_fails_and_raises_the_jam_alarm(
        emulator: Emulator, broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    lock = EmulatedLock()
    lock.jam()
    with _started(_unit(emulator, tmp_path, broker, lock=lock)) as stack:
        ack = _ack(backend, _command(backend, "unlock"))
        assert (ack["status"], ack["lock"]) == ("failed", "jammed")
        assert stack.fleet is not None
        stack.fleet.tick()
        backend.seen.wait(lambda: bool(backend.seen.of("alarm", UNIT))
                          and bool(backend.seen.of("heartbeat", UNIT)))
        assert backend.seen.of("alarm", UNIT)[0]["code"] == "jammed"
        assert backend.seen.of("heartbeat", UNIT)[-1]["lock"] == "jammed"
        assert not stack.unit.in_service


# -- the broker's rules ------------------------------------------------------------------------


def _raw_client(broker: Any, user: str, password: str) -> tuple[mqtt.Client, Any]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, clean_session=True)
    client.username_pw_set(user, password)
    result: dict[str, Any] = {}
    done = threading.Event()

    def connected(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        result["reason"] = reason
        done.set()

    client.on_connect = connected
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    assert done.wait(10)
    return client, result["reason"]


def test_a_device_cannot_publish_or_listen_as_another_device(
        broker: Any, backend: BackendSeat) -> None:
    client, reason = _raw_client(broker, OTHER, broker.password_of(OTHER))
    try:
        assert not reason.is_failure
        heard: list[str] = []
        got = threading.Condition()
        subscribed = threading.Event()

        def message(_c: Any, _u: Any, msg: Any) -> None:
            with got:
                heard.append(msg.topic)
                got.notify_all()

        client.on_message = message
        client.on_subscribe = lambda *_a: subscribed.set()
        client.subscribe([(down_topic(UNIT), 1), (down_topic(OTHER), 1)])
        assert subscribed.wait(10)
        # The back end sends a command to each: the other unit's never reaches this one.
        backend.send(down_topic(UNIT), make_command(UNIT, "find", None, now=time.time(),
                                                    deadline_s=30))
        backend.send(down_topic(OTHER), make_command(OTHER, "find", None, now=time.time(),
                                                     deadline_s=30))
        with got:
            assert got.wait_for(lambda: down_topic(OTHER) in heard, timeout=10)
        assert heard == [down_topic(OTHER)]

        forged = b'{"v":1,"device_id":"%s","online":false}' % UNIT.encode()
        client.publish(up_topic(UNIT, "status"), forged, qos=1).wait_for_publish(10)
        marker = b'{"v":1,"device_id":"%s","online":true}' % OTHER.encode()
        client.publish(up_topic(OTHER, "status"), marker, qos=1).wait_for_publish(10)
        backend.seen.wait(lambda: bool(backend.seen.of("status", OTHER)))
        assert backend.seen.of("status", UNIT) == []  # the forged message was dropped
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_wrong_password_is_refused(broker: Any) -> None:
    client, reason = _raw_client(broker, UNIT, "not-the-password")
    client.loop_stop()
    assert reason.is_failure


def test_a_batch_whose_puback_is_late_is_waited_for_not_sent_twice(
        broker: Any, backend: BackendSeat, tmp_path: Path) -> None:
    import os
    import signal

    from payments.events import make_event
    from payments.outbox import Outbox
    from terminal.fleet.drain import EventDrain
    from terminal.fleet.link import MqttLink

    def event(n: int) -> Any:
        return make_event("terminal.started", terminal_id=UNIT, subject_id=None,
                          attributes={"boot": n})

    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        link = MqttLink(_settings(broker)).start()
        try:
            assert link.wait_connected(10)
            drain = EventDrain(outbox, link, puback_timeout_s=0.5)
            first = [event(n) for n in range(3)]
            for e in first:
                outbox.append(e)
            os.kill(broker.pid, signal.SIGSTOP)  # the broker stalls: no PUBACK in time
            try:
                report = drain.run_once()
                assert report.error == "no PUBACK from the broker" and report.delivered == 0
                later = event(3)
                outbox.append(later)
            finally:
                os.kill(broker.pid, signal.SIGCONT)
            report = drain.run_once()  # the same message, answered now: not published again
            assert report.delivered == 3 and drain.batches_sent == 1
            report = drain.run_once()
            assert report.delivered == 1 and drain.batches_sent == 2

            def arrived() -> list[str]:
                return [e["id"] for b in backend.seen.of("events", UNIT) for e in b["events"]]

            backend.seen.wait(lambda: len(arrived()) >= 4)
            assert sorted(arrived()) == sorted([e.id for e in first] + [later.id])
            assert outbox.counts().pending == 0
        finally:
            link.stop()


def test_a_unit_that_starts_before_its_broker_connects_when_the_broker_comes(
        tmp_path: Path) -> None:
    need_mosquitto()
    from backend.fleet.broker import Broker, free_port
    from terminal.fleet.link import MqttLink

    broker = Broker.for_dev([UNIT], directory=tmp_path / "mqtt", port=free_port())
    link = MqttLink(FleetSettings(device_id=UNIT, host=broker.host, port=broker.port,
                                  password=broker.password_of(UNIT), reconnect_min_s=1.0,
                                  reconnect_max_s=2.0)).start()
    try:
        assert not link.wait_connected(0.5)  # nothing listens yet: it keeps trying
        with broker:
            assert link.wait_connected(15)
            assert link.connects == 1
            link.stop()
    finally:
        link.stop()


# -- an open latch without a ride --------------------------------------------------------------


def _plain_unit(emulator: Emulator, tmp: Path, lock: EmulatedLock) -> BikeLockStack:
    return BikeLockStack(BASE, emulator.endpoints(), state_dir=tmp / "plain",
                         clock=ManualClock(time.time()), lock=lock,
                         indicator=EmulatedIndicator())


def test_a_latch_opened_without_a_ride_takes_the_bike_out_of_service_until_it_closes(
        emulator: Emulator, tmp_path: Path) -> None:
    lock = EmulatedLock()
    with _plain_unit(emulator, tmp_path, lock) as stack:
        lock.unlock()  # by hand: no ride, no money
        assert stack.unit.in_service
        refused = stack.unit.present_code(emulator.wallet_code("rider-good"))
        assert refused.failure == "in_service"
        lock.close_latch()
        assert not stack.unit.in_service and stack.unit.state is RideState.IDLE


def test_a_unit_that_restarts_with_the_latch_open_and_no_ride_is_out_of_service(
        emulator: Emulator, tmp_path: Path) -> None:
    lock = EmulatedLock(closed=False)
    with _plain_unit(emulator, tmp_path, lock) as stack:
        assert stack.unit.resume() == []
        assert stack.unit.in_service
        lock.close_latch()
        assert not stack.unit.in_service
