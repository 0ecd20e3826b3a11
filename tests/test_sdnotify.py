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


def test_the_kiosk_tells_systemd_it_is_ready_and_pings_the_watchdog(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from tests.test_kiosk_run_cli import kiosk_config_file

    config = kiosk_config_file(tmp_path)
    notify_path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(notify_path)
        notify.settimeout(120)  # a bound on a broken run, not a timing assertion
        env = {**os.environ, "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "2000000"}
        proc = subprocess.Popen([sys.executable, "-m", "terminal.cli.main", "run", "--config",
                                 str(config)], cwd=Path(__file__).resolve().parents[1], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert notify.recv(4096).startswith(b"READY=1\nSTATUS=serving http://127.0.0.1:")
            assert notify.recv(4096) == b"WATCHDOG=1"
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        after = _received(notify)  # more pings may have come before the stop
    assert after[-1] == "STOPPING=1"
    assert set(after[:-1]) <= {"WATCHDOG=1"}
    assert proc.returncode == 0, err


@pytest.mark.parametrize("unit", ["scanpay-bike.service", "scanpay-kiosk.service"])
def test_systemd_units_wait_for_ready_and_watch_the_service_loop(unit: str) -> None:
    import configparser

    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(Path(__file__).resolve().parents[1] / "configs" / "systemd" / unit)
    service = parser["Service"]
    assert service["Type"] == "notify"
    assert float(service["WatchdogSec"]) > 0
    assert service["Restart"] == "always"
    assert service["User"] == "scanpay"
    assert service["StateDirectory"] == "scanpay"
    assert " run --config /etc/scanpay/" in service["ExecStart"]


def test_a_manager_that_does_not_read_never_blocks_the_service_loop(
        listener: tuple[socket.socket, str]) -> None:
    _, path = listener
    with SystemdNotifier({"NOTIFY_SOCKET": path}) as notifier:
        results = [notifier.watchdog() for _ in range(500)]  # far past the socket's queue
    assert results[0] is True
    assert results[-1] is False
