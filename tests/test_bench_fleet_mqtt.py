"""The fleet simulator's asyncio MQTT 3.1.1 client against the fleet's real mosquitto (its
password file and per-device ACL), on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from backend.fleet.broker import Broker
from payments.fleet_messages import BACKEND_USER, down_topic, up_filter, up_topic
from terminal.bench.fleet_mqtt import (
    Message,
    MqttClient,
    MqttError,
    Will,
    encode_length,
    read_packet,
)
from tests.fleet_support import need_mosquitto

UNIT = "bike-7001"


@pytest.fixture
def broker() -> Iterator[Broker]:
    """mosquitto knowing two units and the back end's bridge user."""
    need_mosquitto()
    with Broker.for_dev([UNIT, "bike-7002"]) as running:
        yield running


def _client(broker: Broker, user: str, **kwargs: object) -> MqttClient:
    return MqttClient(user, host=broker.host, port=broker.port, username=user,
                      password=broker.password_of(user), **kwargs)  # type: ignore[arg-type]


def _collector() -> tuple[list[Message], asyncio.Event, object]:
    got: list[Message] = []
    arrived = asyncio.Event()

    async def on_message(message: Message) -> None:
        got.append(message)
        arrived.set()

    return got, arrived, on_message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def test_unit_publishes_qos1_the_bridge_receives_and_a_wrong_password_is_refused(
        broker: Broker) -> None:
    async def run() -> list[Message]:
        got, arrived, on_message = _collector()
        bridge = _client(broker, BACKEND_USER, clean_session=True, on_message=on_message)
        await bridge.connect()
        await bridge.subscribe([(up_filter(), 1)])
        unit = _client(broker, UNIT, clean_session=True)
        await unit.connect()
        await unit.publish(up_topic(UNIT, "heartbeat"), b'{"n":1}', qos=1)
        await asyncio.wait_for(arrived.wait(), 5)
        await unit.disconnect()
        await bridge.disconnect()
        wrong = MqttClient(UNIT, host=broker.host, port=broker.port, username=UNIT,
                           password="wrong")
        with pytest.raises(MqttError, match="refused"):
            await wrong.connect()
        return got

    got = asyncio.run(run())
    assert [(m.topic, m.payload, m.qos) for m in got] == \
        [(up_topic(UNIT, "heartbeat"), b'{"n":1}', 1)]


def test_last_will_is_published_when_the_connection_drops(broker: Broker) -> None:
    async def run() -> list[Message]:
        got, arrived, on_message = _collector()
        bridge = _client(broker, BACKEND_USER, clean_session=True, on_message=on_message)
        await bridge.connect()
        await bridge.subscribe([(up_filter(), 1)])
        unit = _client(broker, UNIT, will=Will(up_topic(UNIT, "status"), b'{"online":false}'))
        await unit.connect()
        await unit.abort()  # no DISCONNECT: the broker sends the will
        await asyncio.wait_for(arrived.wait(), 5)
        await bridge.disconnect()
        return got

    got = asyncio.run(run())
    assert got[0].topic == up_topic(UNIT, "status") and got[0].payload == b'{"online":false}'


def test_persistent_session_keeps_qos1_commands_while_offline(broker: Broker) -> None:
    async def run() -> tuple[bool, list[bytes]]:
        got, arrived, on_message = _collector()
        unit = _client(broker, UNIT, clean_session=False, on_message=on_message)
        await unit.connect()
        await unit.subscribe([(down_topic(UNIT), 1)])
        await unit.disconnect()
        bridge = _client(broker, BACKEND_USER, clean_session=True)
        await bridge.connect()
        await bridge.publish(down_topic(UNIT), b"while-away", qos=1)
        await bridge.disconnect()
        present = await unit.connect()
        await asyncio.wait_for(arrived.wait(), 5)
        await unit.disconnect()
        return present, [m.payload for m in got]

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
