"""sd_notify over a real unix datagram socket: READY=1, WATCHDOG=1 paced by the watchdog."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.emulated import ManualClock
from terminal.sdnotify import SystemdNotifier, WatchdogPinger


@pytest.fixture()
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5.0)  # a bound on a broken test, never a timing assertion
    try:
        yield sock, path
    finally:
        sock.close()


def _received(sock: socket.socket) -> list[str]:
    messages = []
    sock.setblocking(False)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(5.0)
    return messages


def test_ready_and_watchdog_reach_the_service_manager(listener: tuple[socket.socket, str]
                                                      ) -> None:
    sock, path = listener
    with SystemdNotifier({"NOTIFY_SOCKET": path}) as notifier:
        assert notifier.enabled
        assert notifier.ready("waiting for payment codes")
        assert sock.recv(4096).decode() == "READY=1\nSTATUS=waiting for payment codes"
        assert notifier.watchdog()
        assert sock.recv(4096).decode() == "WATCHDOG=1"
        assert notifier.stopping()
        assert sock.recv(4096).decode() == "STOPPING=1"


def test_abstract_namespace_sockets_are_addressed_with_a_leading_nul() -> None:
    name = f"scanpay-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5.0)
        with SystemdNotifier({"NOTIFY_SOCKET": "@" + name}) as notifier:
            assert notifier.ready()
        assert sock.recv(4096) == b"READY=1"


def test_without_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_s is None
    notifier.close()
    notifier.close()


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.watchdog() is False


def test_watchdog_interval_comes_from_watchdog_usec_for_this_process() -> None:
    mine = SystemdNotifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000",
                            "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_s == 30.0
    other = SystemdNotifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000",
                             "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None


def test_pinger_pings_at_most_every_half_interval(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    clock = ManualClock()
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"})
    ping = WatchdogPinger(notifier, clock=clock)
    assert ping.every_s == 10.0
    ping()  # first loop turn: ping at once
    clock.advance(4.0)
    ping()
    clock.advance(5.9)
    ping()  # 9.9 s after the first: not yet
    clock.advance(0.1)
    ping()  # 10 s: ping
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert _received(sock) == []
    notifier.close()
