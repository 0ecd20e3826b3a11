"""Start Debian's mosquitto for tests, benchmarks and the emulator: own directory, loopback port.

:class:`Broker` writes ``mosquitto.conf``, the password file (``$7$`` hashes) and the ACL file
of :mod:`.credentials` into a directory of its own, starts ``mosquitto`` on a free loopback port
with persistence on and anonymous clients refused, waits until it accepts connections, and stops
it. A production broker is configured the same way (see docs/api.md, "Fleet")::

    with Broker.for_dev(["bike-0001"]) as broker:
        broker.url            # mqtt://127.0.0.1:<port>
        broker.password_of("bike-0001")

The child gets a raised open-file limit and no connection cap, so the 10,000-lock benchmark can
connect every unit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from backend.errors import BackendError
from backend.fleet.credentials import (
    DEFAULT_ITERATIONS,
    acl_text,
    dev_mqtt_password,
    hashed_entries,
    write_password_file,
)
from backend.settings import DEV_SIGNING_SEED_HEX
from payments.fleet_messages import BACKEND_USER

log = logging.getLogger(__name__)


class BrokerError(BackendError):
    """mosquitto is missing, did not start, or stopped unexpectedly."""


@dataclass(frozen=True)
class BrokerLimits:
    """Capacity settings of a started broker."""

    # Open files of the mosquitto process (one per connection); raised up to this when allowed.
    nofile: int = 65536
    # Messages queued per client beyond those in flight (the bridge's queue when it lags).
    max_queued_messages: int = 1_000_000
    # QoS 1 messages in flight per client.
    max_inflight_messages: int = 100


def find_mosquitto() -> str:
    """The mosquitto binary: on PATH or in /usr/sbin (Debian puts it there)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise BrokerError("mosquitto is not installed (Debian: apt install mosquitto; "
                          "scripts/setup.sh --dev installs it)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise BrokerError(f"mosquitto cannot listen on {host}:{port}: {exc.strerror}") \
                from None


class Broker:
    """A mosquitto process of its own: config, password file and ACL in ``directory``."""

    def __init__(self, passwords: Mapping[str, str] | None = None, *,
                 hashes: Mapping[str, str] | None = None, directory: str | Path | None = None,
                 host: str = "127.0.0.1", port: int = 0, limits: BrokerLimits | None = None,
                 iterations: int = DEFAULT_ITERATIONS, start_timeout_s: float = 10.0,
                 verbose: bool = False) -> None:
        """``passwords``: user -> password (hashed here); ``hashes``: user -> ``$7$`` hash
        already made. ``directory`` defaults to a fresh temporary one, removed on :meth:`stop`."""
        self._entries = dict(hashes or {})
        self._entries.update(hashed_entries(passwords or {}, iterations=iterations))
        self._own_dir = directory is None
        self.directory = Path(directory) if directory else Path(
            tempfile.mkdtemp(prefix="scanpay-mqtt-"))
        self.host = host
        self.port = port
        self.limits = limits or BrokerLimits()
        self._start_timeout_s = start_timeout_s
        self._verbose = verbose
        self._passwords = dict(passwords or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_dev(cls, device_ids: Iterable[str], *, seed_hex: str = DEV_SIGNING_SEED_HEX,
                **kwargs: object) -> Broker:
        """A broker knowing the development passwords of ``device_ids`` and of the bridge."""
        users = [*device_ids, BACKEND_USER]
        return cls({u: dev_mqtt_password(seed_hex, u) for u in users}, **kwargs)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        """``mqtt://host:port`` of the running broker."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running mosquitto, or None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the mosquitto process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def password_of(self, user: str) -> str:
        """The clear password given for ``user`` (not kept for users given as hashes)."""
        try:
            return self._passwords[user]
        except KeyError:
            raise BrokerError(f"no known password for {user!r}") from None

    @property
    def log_path(self) -> Path:
        """mosquitto's log file."""
        return self.directory / "mosquitto.log"

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of mosquitto's log (for error messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _write_files(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        (self.directory / "data").mkdir(exist_ok=True)
        write_password_file(self.directory / "passwords", self._entries)
        acl = self.directory / "acl"
        acl.write_text(acl_text(), encoding="utf-8")
        os.chmod(acl, 0o600)
        conf = self.directory / "mosquitto.conf"
        log_types = ("error", "warning", "notice", "information") if self._verbose \
            else ("error", "warning")
        lines = [
            "# written by backend.fleet.broker",
            f"user {pwd.getpwuid(os.getuid()).pw_name}",  # as root: do not drop to 'mosquitto'
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            "allow_anonymous false",
            f"password_file {self.directory / 'passwords'}",
            f"acl_file {acl}",
            # The broker takes the client id from the user name: no one can take over
            # another device's session by connecting with its id.
            "use_username_as_clientid true",
            "persistence true",
            f"persistence_location {self.directory / 'data'}/",
            "autosave_interval 60",
            f"max_queued_messages {self.limits.max_queued_messages}",
            f"max_inflight_messages {self.limits.max_inflight_messages}",
            "max_connections -1",
            "set_tcp_nodelay true",
            f"log_dest file {self.log_path}",
            *(f"log_type {t}" for t in log_types),
            f"connection_messages {'true' if self._verbose else 'false'}",
            "",
        ]
        conf.write_text("\n".join(lines), encoding="utf-8")
        return conf

    def _raise_limits(self) -> None:  # runs in the child before exec
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = self.limits.nofile
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
        except (ValueError, OSError):
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(want, hard)), hard))

    def start(self) -> Broker:
        """Start mosquitto and wait until it accepts TCP connections."""
        with self._lock:
            if self.running:
                return self
            binary = find_mosquitto()
            if self.port == 0:
                self.port = free_port(self.host)
            else:
                _check_free(self.host, self.port)
            conf = self._write_files()
            self._proc = subprocess.Popen(
                [binary, "-c", str(conf)], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                preexec_fn=self._raise_limits, start_new_session=True)
            deadline = time.monotonic() + self._start_timeout_s
            wake = threading.Event()
            while True:
                if self._proc.poll() is not None:
                    err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(
                        errors="replace")
                    self._proc = None
                    raise BrokerError(f"mosquitto exited at start: {err.strip()} "
                                      f"{self.log_tail()}".strip())
                try:
                    with socket.create_connection((self.host, self.port), timeout=0.5):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    self._kill()
                    raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} "
                                      f"within {self._start_timeout_s:g} s")
                wake.wait(0.02)
            log.info("mosquitto %s serving %s (dir %s)", self._proc.pid, self.url, self.directory)
            return self

    def reload(self, *, passwords: Mapping[str, str] | None = None,
               hashes: Mapping[str, str] | None = None) -> None:
        """Add or replace users and make the running broker re-read its password file."""
        self._passwords.update(passwords or {})
        self._entries.update(hashes or {})
        self._entries.update(hashed_entries(passwords or {}))
        write_password_file(self.directory / "passwords", self._entries)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGHUP)

    def stop(self, *, remove: bool | None = None) -> None:
        """Stop mosquitto (it saves its persistence file); remove the directory if it made it
        (``remove`` overrides). Safe to call more than once."""
        with self._lock:
            self._kill()
        if remove if remove is not None else self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again on the same port and directory (sessions persist)."""
        with self._lock:
            self._kill()
        self.start()

    def kill(self) -> None:
        """Stop mosquitto at once (SIGKILL), without saving; the directory stays."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc is not None and proc.stderr:
            proc.stderr.close()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log.warning("mosquitto %s did not stop within 10 s; killing it", proc.pid)
                proc.kill()
                proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
