"""The fleet broker: real mosquitto, password file in $7$ format, ACL per device id."""

from __future__ import annotations

import base64
import queue
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.fleet import credentials as cr
from backend.fleet.broker import Broker, BrokerError
from payments import fleet_messages as fm
from payments.fleet_messages import BACKEND_USER
from tests.fleet_support import connect, need_mosquitto


def test_password_hash_format_and_verify() -> None:
    hashed = cr.password_hash("secret", salt=base64.b64decode("m47SV2pvbX/DIave"))
    # The same line mosquitto_passwd writes for this salt.
    assert hashed == ("$7$101$m47SV2pvbX/DIave$C7USRQBUdlrpvgdHHXWtOfNFlEVy+NfKAxQ5PYwA+hVlyOtX"
                      "AQLdyJWTddM5AnuMz97ViceUJ5DL47dwbbuViQ==")
    assert cr.verify_password("secret", hashed)
    assert not cr.verify_password("Secret", hashed)
    assert not cr.verify_password("secret", "plain")
    with pytest.raises(cr.CredentialsError):
        cr.password_hash("a\nb")


def test_password_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    cr.set_password(path, "bike-0001", "one")
    cr.set_password(path, BACKEND_USER, "two")
    cr.set_password(path, "bike-0001", "three")
    entries = cr.read_password_file(path)
    assert set(entries) == {"bike-0001", BACKEND_USER}
    assert cr.verify_password("three", entries["bike-0001"])
    assert path.stat().st_mode & 0o077 == 0
    assert cr.remove_user(path, "bike-0001") and not cr.remove_user(path, "bike-0001")
    with pytest.raises(cr.CredentialsError, match="device id"):
        cr.set_password(path, "bad/id", "x")
    path.write_text("nonsense\n")
    with pytest.raises(cr.CredentialsError, match="not a 'user"):
        cr.read_password_file(path)


def test_dev_passwords_are_derived() -> None:
    seed = "00" * 32
    assert cr.dev_mqtt_password(seed, "bike-1") == cr.dev_mqtt_password(seed, "bike-1")
    assert cr.dev_mqtt_password(seed, "bike-1") != cr.dev_mqtt_password(seed, "bike-2")
    assert len(cr.new_password()) == 32 and cr.new_password() != cr.new_password()


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    need_mosquitto()
    with Broker.for_dev(["bike-0001", "bike-0002"]) as b:
        yield b


def test_wrong_password_and_anonymous_refused(broker: Broker) -> None:
    bad = connect(broker.url, "bike-0001", "wrong", expect_ok=False)
    assert bad.connect_rc not in (None, 0)
    anon = connect(broker.url, "anyone", None, expect_ok=False)
    assert anon.connect_rc not in (None, 0)
    stranger = connect(broker.url, "bike-9999", broker.password_of("bike-0001"),
                       expect_ok=False)
    assert stranger.connect_rc not in (None, 0)


def test_device_confined_to_its_own_topics(broker: Broker) -> None:
    bridge = connect(broker.url, BACKEND_USER, broker.password_of(BACKEND_USER),
                     client_id=fm.BRIDGE_CLIENT_ID, clean=True)
    unit = connect(broker.url, "bike-0001", broker.password_of("bike-0001"), clean=True)
    other = connect(broker.url, "bike-0002", broker.password_of("bike-0002"), clean=True)
    try:
        assert bridge.subscribe(fm.up_filter()) == [1]
        # A device may ask for another device's commands, or everyone's (mosquitto 2.0 grants
        # the SUBACK), but the ACL's read check delivers it none of them (below).
        unit.subscribe(fm.down_topic("bike-0002"))
        unit.subscribe(fm.down_filter())
        unit.subscribe(fm.up_filter("bike-0002"))
        unit.subscribe(fm.up_filter())
        assert other.subscribe(fm.down_topic("bike-0002")) == [1]
        other.publish(fm.up_topic("bike-0002", "heartbeat"), b"other's heartbeat")
        assert bridge.next_message().payload == b"other's heartbeat"
        # Publishing under another id is dropped by the broker; one's own arrives.
        unit.publish(fm.up_topic("bike-0002", "alarm"), b"forged")
        unit.publish(fm.down_topic("bike-0002"), b"forged command")
        unit.publish(fm.up_topic("bike-0001", "alarm"), b"genuine")
        msg = bridge.next_message()
        assert (msg.topic, msg.payload) == (fm.up_topic("bike-0001", "alarm"), b"genuine")
        with pytest.raises(queue.Empty):
            bridge.next_message(timeout=0.3)
        with pytest.raises(queue.Empty):
            other.next_message(timeout=0.1)
        # The bridge reaches one device's command topic; only that device gets it.
        bridge.publish(fm.down_topic("bike-0002"), b"real command")
        assert other.next_message().payload == b"real command"
        with pytest.raises(queue.Empty):  # not the command, not the other's heartbeat
            unit.next_message(timeout=0.3)
    finally:
        for c in (bridge, unit, other):
            c.close()


def test_client_id_cannot_take_over_another_device(broker: Broker) -> None:
    """The broker uses the user name as client id, so bike-0001 connecting as client
    'bike-0002' does not end bike-0002's session."""
    victim = connect(broker.url, "bike-0002", broker.password_of("bike-0002"), clean=True)
    rogue = connect(broker.url, "bike-0001", broker.password_of("bike-0001"),
                    client_id="bike-0002", clean=True)
    try:
        assert victim.subscribe(fm.down_topic("bike-0002")) == [1]
        assert victim.client.is_connected()
    finally:
        rogue.close()
        victim.close()


def test_reload_adds_a_device(broker: Broker) -> None:
    broker.reload(passwords={"bike-0003": "fresh-password"})
    for _ in range(50):
        c = connect(broker.url, "bike-0003", "fresh-password", expect_ok=False)
        if c.connect_rc == 0:
            c.close()
            break
        time.sleep(0.05)
    else:
        pytest.fail("the reloaded password was not accepted")


def test_child_limits_raised(broker: Broker) -> None:
    limits = Path(f"/proc/{broker.pid}/limits").read_text()
    line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    soft = int(line.split()[3])
    assert soft >= min(broker.limits.nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])


def test_bad_start_is_reported(tmp_path: Path) -> None:
    need_mosquitto()
    with Broker.for_dev(["b1"]) as first:
        clash = Broker.for_dev(["b1"], port=first.port, directory=tmp_path / "b")
        with pytest.raises(BrokerError, match="mosquitto"):
            clash.start()
