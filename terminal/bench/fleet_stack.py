"""The servers behind ``scanpay bench fleet``: broker, database and back end (started or given).

:func:`start_stack` starts what is not configured: a mosquitto of its own that knows every
simulated unit's development password (:class:`backend.fleet.broker.Broker`), a database (a
SQLite file in a temporary directory, or a PostgreSQL of its own), and the back end in uvicorn
worker processes with its MQTT bridge connected to the broker. :class:`Stack` tells the
simulator where each one is and which process ids to measure, reads the back end's records at
the end (:meth:`Stack.stored_events`), and stops what it started.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from terminal.errors import TerminalError

START_TIMEOUT_S = 120.0
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StackError(TerminalError):
    """A server of the benchmark could not start or be reached."""


def raise_open_files(want: int = 65536) -> int:
    """Raise this process's open-file limit (its children inherit it); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in ((max(soft, want), max(hard, want)), (max(soft, min(want, hard)), hard)):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, target)
            break
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    """A loopback TCP port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """Where the broker, the database and the back end are, and how to stop them."""

    broker_host: str
    broker_port: int
    broker_label: str
    store_kind: str  # "sqlite" or "postgresql"
    store_url: str
    backend_port: int
    password_of: Callable[[str], str]
    # Process ids to measure (name -> root pid) and the cores each may use.
    pids: dict[str, int] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    _stops: list[Callable[[], None]] = field(default_factory=list)
    # Restarts the broker this stack started (sessions persist); None for a given broker.
    restart_broker: Callable[[], None] | None = None

    def stop(self) -> None:
        """Stop every server this stack started (last started first)."""
        while self._stops:
            with contextlib.suppress(Exception):
                self._stops.pop()()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only query on the back end's database (``?`` placeholders)."""
        if self.store_kind == "postgresql":
            import psycopg

            with psycopg.connect(self.store_url, autocommit=True) as conn:
                return list(conn.execute(sql.replace("?", "%s"), tuple(params)).fetchall())
        import sqlite3

        uri = Path(self.store_url).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=30.0)
        try:
            return list(conn.execute(sql, tuple(params)).fetchall())
        finally:
            conn.close()

    def stored_events(self, terminal_prefix: str) -> dict[str, list[float]]:
        """Event id -> the back end's ``received_at`` of every stored copy, for the terminals
        whose id starts with ``terminal_prefix``."""
        out: dict[str, list[float]] = {}
        rows = self.query("SELECT event_id, received_at FROM events WHERE terminal_id LIKE ?",
                          (terminal_prefix + "%",))
        for event_id, received_at in rows:
            out.setdefault(str(event_id), []).append(float(received_at))
        return out

    def count_events(self, terminal_prefix: str) -> int:
        """Stored events of the simulated terminals."""
        rows = self.query("SELECT COUNT(*) FROM events WHERE terminal_id LIKE ?",
                          (terminal_prefix + "%",))
        return int(rows[0][0])

    def count_vehicles(self, device_prefix: str) -> int:
        """Vehicles the back end's fleet state has of the simulated units."""
        rows = self.query("SELECT COUNT(*) FROM fleet_vehicles WHERE device_id LIKE ?",
                          (device_prefix + "%",))
        return int(rows[0][0])

    def charges_per_ride(self, terminal_prefix: str) -> dict[str, int]:
        """Ride reference -> number of charges stored for it."""
        rows = self.query("SELECT reference, COUNT(*) FROM charges WHERE terminal_id LIKE ? "
                          "GROUP BY reference", (terminal_prefix + "%",))
        return {str(ref): int(n) for ref, n in rows}


def _start_broker(stack_stops: list[Callable[[], None]], device_ids: Iterable[str],
                  directory: Path) -> tuple[Any, Callable[[str], str]]:
    from backend.fleet.broker import Broker

    broker = Broker.for_dev(list(device_ids), directory=directory / "mqtt")
    broker.start()
    stack_stops.append(broker.stop)
    return broker, broker.password_of


def _dev_password(user: str) -> str:
    from backend.fleet.credentials import dev_mqtt_password
    from backend.settings import DEV_SIGNING_SEED_HEX

    return dev_mqtt_password(DEV_SIGNING_SEED_HEX, user)


def _start_postgres(stops: list[Callable[[], None]]) -> tuple[str, int]:
    """A PostgreSQL of our own (:class:`backend.localpg.LocalPostgres`); (URL, postmaster
    pid)."""
    try:
        from backend.localpg import LocalPostgres
    except ImportError:
        raise StackError("this checkout has no PostgreSQL launcher (backend.localpg); "
                         "give --store postgresql://... instead") from None
    server = LocalPostgres(max_connections=300).start()
    stops.append(server.stop)
    assert server.dir is not None
    pid_file = server.dir / "data" / "postmaster.pid"
    return server.url(), int(pid_file.read_text().split()[0])


def _wait_health(proc: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"the back end exited with {proc.returncode} at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)  # polling a child's port: there is no event to await
    raise StackError(f"the back end did not answer /v1/health within {timeout_s:g} s")


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def start_stack(device_ids: Sequence[str], operator_id: str, *, store: str, broker_url: str,
                workers: int, directory: Path) -> Stack:
    """Start (or point at) the broker, the database and the back end with its MQTT bridge."""
    from backend.asgi import DB_ENV, TERMINALS_ENV
    from payments.fleet_messages import BACKEND_USER

    stops: list[Callable[[], None]] = []
    pids: dict[str, int] = {}
    limits: dict[str, float] = {}
    try:
        if broker_url:
            parts = urlsplit(broker_url)
            if parts.scheme != "mqtt" or not parts.hostname:
                raise StackError(f"--broker must be mqtt://host:port, got {broker_url!r}")
            host, port, label = parts.hostname, parts.port or 1883, broker_url
            password_of = _dev_password
            restart = None
        else:
            broker, password_of = _start_broker(stops, device_ids, directory)
            host, port, label = broker.host, broker.port, "mosquitto"
            restart = broker.restart
            pids["broker"], limits["broker"] = broker.pid, 1.0
        if store == "sqlite":
            kind, url = "sqlite", str(directory / "backend.sqlite")
        elif store == "postgresql":
            kind = "postgresql"
            url, pg_pid = _start_postgres(stops)
            pids["database"], limits["database"] = pg_pid, float(os.cpu_count() or 1)
        elif store.startswith(POSTGRES_SCHEMES):
            kind, url = "postgresql", store
        else:
            raise StackError(f"--store must be sqlite, postgresql or a postgresql:// URL, "
                             f"got {store!r}")
        from terminal.bench.fleet_app import MQTT_ENV, PASSWORD_ENV, TERMINALS_FILE_ENV

        http_port = free_port()
        terminals = directory / "terminals.txt"
        terminals.write_text("\n".join([*device_ids, operator_id]) + "\n", encoding="utf-8")
        env = {**os.environ, DB_ENV: url, TERMINALS_FILE_ENV: str(terminals)}
        env.pop(TERMINALS_ENV, None)
        bridge_env = {MQTT_ENV: f"mqtt://{host}:{port}",
                      PASSWORD_ENV: password_of(BACKEND_USER)}
        # One worker runs the bridge itself (woken at once by a command); several share one
        # bridge process of its own (a fixed client id: two bridges would evict each other).
        cmd = [sys.executable, "-m", "uvicorn", "terminal.bench.fleet_app:app_with_bridge",
               "--factory", "--host", "127.0.0.1", "--port", str(http_port),
               "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                env={**env, **bridge_env} if workers == 1 else env)
        stops.append(lambda: _stop_process(proc))
        _wait_health(proc, http_port, START_TIMEOUT_S)
        pids["backend"], limits["backend"] = proc.pid, float(workers)
        if workers > 1:
            bridge = subprocess.Popen([sys.executable, "-m", "terminal.bench.fleet_app"],
                                      stdin=subprocess.DEVNULL, env={**env, **bridge_env})
            stops.append(lambda: _stop_process(bridge))
            pids["bridge"], limits["bridge"] = bridge.pid, 1.0
    except BaseException:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                stop()
        raise
    stack = Stack(host, port, label, kind, url, http_port, password_of, pids, limits, stops,
                  restart)
    if restart is not None:  # the restarted broker is a new process: measure that one
        def restart_and_track() -> None:
            restart()
            stack.pids["broker"] = broker.pid
        stack.restart_broker = restart_and_track
    return stack


def temp_directory() -> tempfile.TemporaryDirectory[str]:
    """A private temporary directory for the stack's files."""
    return tempfile.TemporaryDirectory(prefix="scanpay-fleet-bench-")
