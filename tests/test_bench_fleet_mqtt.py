"""The fleet simulator's asyncio MQTT 3.1.1 client against a real mosquitto on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal.bench.fleet_mqtt import (
    Message,
    MqttClient,
    MqttError,
    Will,
    encode_length,
    read_packet,
)

MOSQUITTO = shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin:/usr/bin")
PASSWD = shutil.which("mosquitto_passwd")
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """A mosquitto with one user (``unit-1`` / ``secret-1``) and anonymous access refused."""
    if PASSWD is None:
        pytest.skip("mosquitto_passwd is not installed")
    port = _free_port()
    pwfile = tmp_path / "passwd"
    pwfile.write_text("")
    subprocess.run([PASSWD, "-b", str(pwfile), "unit-1", "secret-1"], check=True)
    conf = tmp_path / "mosquitto.conf"
    # As root, mosquitto would drop to its own user, who cannot read a private temp dir.
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(f"{user}listener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {pwfile}\npersistence false\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)  # waiting for a child's port: nothing to await
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_remaining_length_encoding_matches_the_standard() -> None:
    # The standard's table: 127 is one byte, 128 two, 16383 two, 16384 three.
    assert encode_length(0) == b"\x00"
    assert encode_length(127) == b"\x7f"
    assert encode_length(128) == b"\x80\x01"
    assert encode_length(16_383) == b"\xff\x7f"
    assert encode_length(16_384) == b"\x80\x80\x01"
    assert encode_length(268_435_455) == b"\xff\xff\xff\x7f"
    with pytest.raises(MqttError):
        encode_length(268_435_456)

    async def parse(data: bytes) -> tuple[int, int, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        return await read_packet(reader)

    assert asyncio.run(parse(b"\x30" + encode_length(200) + b"x" * 200)) == (3, 0, b"x" * 200)


def test_publish_subscribe_qos1_roundtrip_and_bad_password(broker: int) -> None:
    async def run() -> list[Message]:
        got: list[Message] = []
        arrived = asyncio.Event()

        async def on_message(message: Message) -> None:
            got.append(message)
            arrived.set()

        sub = MqttClient("sub", host="127.0.0.1", port=broker, username="unit-1",
                         password="secret-1", clean_session=True, on_message=on_message)
        pub = MqttClient("pub", host="127.0.0.1", port=broker, username="unit-1",
                         password="secret-1", clean_session=True)
        await sub.connect()
        await sub.subscribe([("t/#", 1)])
        await pub.connect()
        await pub.publish("t/a", b'{"n":1}', qos=1)
        await asyncio.wait_for(arrived.wait(), 5)
        await pub.disconnect()
        await sub.disconnect()
        wrong = MqttClient("x", host="127.0.0.1", port=broker, username="unit-1",
                           password="wrong")
        with pytest.raises(MqttError, match="refused"):
            await wrong.connect()
        return got

    got = asyncio.run(run())
    assert [(m.topic, m.payload, m.qos) for m in got] == [("t/a", b'{"n":1}', 1)]


def test_last_will_is_published_when_the_connection_drops(broker: int) -> None:
    async def run() -> list[Message]:
        got: list[Message] = []
        arrived = asyncio.Event()

        async def on_message(message: Message) -> None:
            got.append(message)
            arrived.set()

        watcher = MqttClient("watcher", host="127.0.0.1", port=broker, username="unit-1",
                             password="secret-1", clean_session=True, on_message=on_message)
        await watcher.connect()
        await watcher.subscribe([("s/#", 1)])
        unit = MqttClient("unit", host="127.0.0.1", port=broker, username="unit-1",
                          password="secret-1",
                          will=Will("s/unit", b'{"online":false}', qos=1, retain=True))
        await unit.connect()
        await unit.abort()  # no DISCONNECT: the broker sends the will
        await asyncio.wait_for(arrived.wait(), 5)
        await watcher.disconnect()
        return got

    got = asyncio.run(run())
    assert got[0].topic == "s/unit" and got[0].payload == b'{"online":false}'


def test_persistent_session_keeps_qos1_messages_while_offline(broker: int) -> None:
    async def run() -> tuple[bool, list[bytes]]:
        got: list[bytes] = []
        arrived = asyncio.Event()

        async def on_message(message: Message) -> None:
            got.append(message.payload)
            arrived.set()

        unit = MqttClient("unit-p", host="127.0.0.1", port=broker, username="unit-1",
                          password="secret-1", clean_session=False, on_message=on_message)
        await unit.connect()
        await unit.subscribe([("down/unit-p", 1)])
        await unit.disconnect()
        sender = MqttClient("sender", host="127.0.0.1", port=broker, username="unit-1",
                            password="secret-1", clean_session=True)
        await sender.connect()
        await sender.publish("down/unit-p", b"while-away", qos=1)
        await sender.disconnect()
        present = await unit.connect()
        await asyncio.wait_for(arrived.wait(), 5)
        await unit.disconnect()
        return present, got

    present, got = asyncio.run(run())
    assert present is True
    assert got == [b"while-away"]


def test_publishing_without_a_connection_is_a_clear_error() -> None:
    async def run() -> None:
        client = MqttClient("lonely", host="127.0.0.1", port=_free_port())
        with pytest.raises(MqttError, match="cannot reach the broker"):
            await client.connect(timeout_s=2)
        with pytest.raises(MqttError, match="not connected"):
            await client.publish("t/x", b"1")

    asyncio.run(run())
