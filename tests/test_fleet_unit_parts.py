"""The fleet link's parts without a broker: settings and credentials, the command store, the
command runner's rules, and the emulated lock's battery and position."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from hardware.emulated.clock import ManualClock
from hardware.emulated.lock import BatteryDrain, Drift, EmulatedLock
from hardware.ports import Position, PositionSource
from payments.fleet_messages import Ack, encode, make_command
from terminal.config import default_config_path, load_config
from terminal.config.loader import parse_config
from terminal.errors import ConfigError
from terminal.fleet.commands import CommandRunner
from terminal.fleet.control import KioskControl
from terminal.fleet.errors import FleetError
from terminal.fleet.settings import PASSWORD_ENV, fleet_settings, parse_mqtt_url
from terminal.fleet.store import FleetStore

BASE = load_config(default_config_path("emulator"))


def _config(fleet: str) -> bytes:
    return (default_config_path("emulator").read_text() + "\n[fleet]\n" + fleet).encode()


# -- settings ----------------------------------------------------------------------------------


def test_broker_urls_parse_with_default_ports_and_refuse_credentials() -> None:
    assert parse_mqtt_url("mqtts://mqtt.example.com") == ("mqtt.example.com", 8883, True)
    assert parse_mqtt_url("mqtt://127.0.0.1:1884") == ("127.0.0.1", 1884, False)
    with pytest.raises(FleetError, match="password goes in"):
        parse_mqtt_url("mqtt://bike:secret@host")
    with pytest.raises(FleetError, match="expected mqtt://"):
        parse_mqtt_url("http://host")


def test_no_url_means_no_fleet_link() -> None:
    assert fleet_settings(BASE, env={}) is None


def test_the_password_comes_from_a_private_file_or_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret-token\n")
    os.chmod(secret, 0o600)
    config = parse_config(_config(f'mqtt_url = "mqtt://127.0.0.1:1883"\n'
                                  f'device_password_file = "{secret}"\n'), source="t.toml")
    settings = fleet_settings(config, env={})
    assert settings is not None and settings.password == "s3cret-token"
    assert settings.device_id == BASE.terminal.id and settings.port == 1883
    assert "s3cret" not in repr(settings)  # never printed
    os.chmod(secret, 0o644)
    with pytest.raises(FleetError, match="chmod 600"):
        fleet_settings(config, env={})
    from_env = parse_config(_config('mqtt_url = "mqtts://h"\n'), source="t.toml")
    assert fleet_settings(from_env, env={PASSWORD_ENV: "tok"}).password == "tok"  # type: ignore[union-attr]
    with pytest.raises(FleetError, match=PASSWORD_ENV):
        fleet_settings(from_env, env={})


def test_bad_fleet_values_are_refused_with_the_key() -> None:
    with pytest.raises(ConfigError, match=r"fleet\.heartbeat_s"):
        parse_config(_config('mqtt_url = "mqtt://h"\nheartbeat_s = 5\n'), source="t.toml")
    with pytest.raises(ConfigError, match=r"fleet\.mqtt_url"):
        parse_config(_config('mqtt_url = "tcp://h"\n'), source="t.toml")
    with pytest.raises(ConfigError, match=r"lock\.lat and lock\.lon"):
        text = default_config_path("emulator").read_text()
        parse_config("\n".join(line for line in text.splitlines()
                               if not line.startswith("lon =")).encode(), source="t.toml")


# -- the store and the command runner ----------------------------------------------------------


def test_a_claimed_command_keeps_its_first_ack_and_the_sequence_survives_a_reopen(
        tmp_path: Path) -> None:
    with FleetStore(tmp_path / "fleet.sqlite3") as store:
        assert store.claim("cmd_" + "a" * 32, "find").new
        again = store.claim("cmd_" + "a" * 32, "find")
        assert not again.new and again.ack is None  # claimed, not answered yet
        store.save_ack("cmd_" + "a" * 32, b'{"first":1}')
        store.save_ack("cmd_" + "a" * 32, b'{"second":1}')
        assert store.claim("cmd_" + "a" * 32, "find").ack == b'{"first":1}'
        assert [store.next_seq() for _ in range(3)] == [1, 2, 3]
        store.set_interval_s(120)
    with FleetStore(tmp_path / "fleet.sqlite3") as store:
        assert store.next_seq() == 4 and store.interval_s() == 120


def _runner(tmp_path: Path, sent: list[Ack]) -> CommandRunner:
    store = FleetStore(tmp_path / "fleet.sqlite3")
    return CommandRunner("kiosk-0001", store, KioskControl(), send_ack=sent.append,
                         set_interval=lambda s: None)


def test_a_kiosk_refuses_lock_commands_and_answers_a_malformed_one(tmp_path: Path) -> None:
    sent: list[Ack] = []
    runner = _runner(tmp_path, sent)
    cmd = make_command("kiosk-0001", "unlock", None, now=time.time(), deadline_s=30)
    ack = runner.handle(encode(cmd))
    assert ack is not None and (ack.status, ack.lock) == ("refused", "unknown")
    bad = json.dumps({"v": 1, "device_id": "kiosk-0001", "command_id": "cmd_" + "b" * 32,
                      "command": "explode"}).encode()
    ack = runner.handle(bad)
    assert ack is not None and ack.status == "failed" and "malformed" in ack.detail
    assert runner.handle(b"not json") is None  # no id to answer to: dropped with a log line
    assert runner.handle(encode(cmd)) == sent[0]  # the same id: the first ack again
    assert runner.executed == 1


def test_a_command_for_another_device_is_ignored(tmp_path: Path) -> None:
    sent: list[Ack] = []
    runner = _runner(tmp_path, sent)
    cmd = make_command("kiosk-0002", "find", None, now=time.time(), deadline_s=30)
    assert runner.handle(encode(cmd)) is None and sent == []


# -- the emulated lock's battery and position --------------------------------------------------


def test_the_emulated_battery_drains_per_unlock_ride_and_hour() -> None:
    clock = ManualClock(0.0)
    lock = EmulatedLock(clock, battery=50.0, drain=BatteryDrain(per_unlock_pct=1.0,
                                                                per_ride_pct=2.0,
                                                                per_hour_pct=0.5))
    lock.unlock()
    assert lock.battery == pytest.approx(49.0)
    clock.advance(7200)
    lock.close_latch()
    assert lock.battery == pytest.approx(46.0)  # 1 (unlock) + 2 (ride) + 2 h x 0.5
    lock.set_battery(0.5)
    clock.advance(7200)
    assert lock.battery == 0.0  # never below empty
    assert EmulatedLock().battery is None  # no gauge unless configured


def test_the_emulated_position_drifts_only_while_the_bike_is_out() -> None:
    clock = ManualClock(0.0)
    home = Position(31.2304, 121.4737, 5.0)
    lock = EmulatedLock(clock, position=home, drift=Drift(drift_m_per_min=60.0,
                                                          max_drift_m=300.0, seed=7))
    assert isinstance(lock, PositionSource)
    clock.advance(600)
    assert lock.position == home  # parked: it stays put
    lock.unlock()
    positions = []
    for _ in range(30):
        clock.advance(60)
        positions.append(lock.position)
    assert len(set(positions)) > 20  # it moves during the ride ...
    for where in positions:
        assert where is not None
        north = (where.lat - home.lat) * 111_320
        assert abs(north) <= 301  # ... but stays near where the ride began
    lock.close_latch()
    parked = lock.position
    clock.advance(600)
    assert lock.position == parked and parked != home  # left where the ride ended


# -- scanpay doctor ----------------------------------------------------------------------------


def test_the_doctor_checks_the_fleet_password_and_the_brokers_reach(tmp_path: Path) -> None:
    import socket

    from terminal.doctor.fleet import check_fleet

    assert check_fleet(BASE) == []  # no fleet link configured: nothing to check
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        secret = tmp_path / "mqtt-password"
        secret.write_text("tok\n")
        os.chmod(secret, 0o600)
        config = parse_config(_config(f'mqtt_url = "mqtt://127.0.0.1:{port}"\n'
                                      f'device_password_file = "{secret}"\n'), source="t.toml")
        (result,) = check_fleet(config)
        assert result.ok and f"127.0.0.1:{port} reachable" in result.detail
    (result,) = check_fleet(config)  # the port is closed now
    assert not result.ok and not result.needed and "not reachable" in result.detail
    secret.unlink()
    (result,) = check_fleet(config)
    assert not result.ok and result.needed and "chmod 600" in result.fix
