"""A throw-away PostgreSQL server for tests, the emulator and benchmarks.

:class:`LocalPostgres` runs ``initdb`` into a temporary directory, starts ``postgres`` on a
free loopback port with its unix socket in that directory, creates a database and, on
:meth:`~LocalPostgres.stop`, shuts the server down and deletes the directory. The binaries come
from ``PATH`` or Debian's ``/usr/lib/postgresql/<version>/bin`` (the newest); without them
:class:`PostgresMissing` says what to install. Run as root, the server runs as the ``postgres``
system user (``initdb`` refuses root).

Never a system-wide service: the server is this process's child and lives as long as the
object (and no longer than this process, where util-linux's ``setpriv`` is installed).
"""

from __future__ import annotations

import atexit
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from backend.errors import BackendError

log = logging.getLogger(__name__)

SUPERUSER = "scanpay"
DEFAULT_DB = "scanpay"


class PostgresMissing(BackendError):
    """No PostgreSQL server binaries on this machine."""


def find_bin_dir() -> Path:
    """The directory of ``initdb``/``pg_ctl``: on PATH, else the newest Debian install."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    candidates = []
    for path in Path("/usr/lib/postgresql").glob("*/bin"):
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            try:
                candidates.append((float(path.parent.name), path))
            except ValueError:
                continue
    if not candidates:
        raise PostgresMissing("PostgreSQL is not installed (no initdb/pg_ctl on PATH or under "
                              "/usr/lib/postgresql); install Debian's 'postgresql' package "
                              "(scripts/setup.sh --dev does)")
    return max(candidates)[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalPostgres:
    """A private PostgreSQL server in a temporary directory (a context manager).

    ``durable=False`` (tests) turns fsync off; benchmarks keep fsync but commit without
    waiting for the WAL flush (``synchronous_commit=off``: a crash may lose the last few
    hundred milliseconds, never consistency), which is what SQLite's WAL mode with
    ``synchronous=NORMAL`` gives the embedded store.
    """

    def __init__(self, *, durable: bool = True, max_connections: int = 200,
                 settings: dict[str, str] | None = None) -> None:
        self.durable = durable
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.port = 0
        self.dir: Path | None = None
        self._bin: Path | None = None
        self._user: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_dir(self) -> Path:
        """Directory of the server's unix socket."""
        if self.dir is None:
            raise BackendError("the local PostgreSQL server is not running")
        return self.dir / "sock"

    def url(self, database: str = DEFAULT_DB, *, schema: str | None = None,
            unix_socket: bool = True) -> str:
        """A store URL of ``database`` (over the unix socket unless ``unix_socket=False``)."""
        suffix = f"&schema={schema}" if schema else ""
        if unix_socket:
            return (f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"
                    f"&port={self.port}{suffix}")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}" + \
            (f"?schema={schema}" if schema else "")

    def start(self) -> LocalPostgres:
        """initdb, start and create the default database; returns self."""
        if self.dir is not None:
            return self
        self._bin = find_bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="scanpay-pg-"))
        atexit.register(self.stop)
        try:
            self._user = self._run_as()
            (self.dir / "sock").mkdir()
            if self._user is not None:
                entry = pwd.getpwnam(self._user)
                for path in (self.dir, self.dir / "sock"):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            os.chmod(self.dir, 0o755)
            self._cmd(["initdb", "-D", str(self.dir / "data"), "-U", SUPERUSER, "-A", "trust",
                       "-E", "UTF8", "--no-locale", "--no-sync"])
            for attempt in range(3):
                self.port = _free_port()
                try:
                    self._launch()
                    break
                except BackendError:
                    if attempt == 2:
                        raise
            self.create_database(DEFAULT_DB)
        except BaseException:
            self.stop()
            raise
        log.info("local PostgreSQL on port %d in %s", self.port, self.dir)
        return self

    def _options(self) -> list[str]:
        opts = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.socket_dir),
                "unix_socket_permissions": "0777", "max_connections": str(self.max_connections),
                "synchronous_commit": "off", "log_min_messages": "warning"}
        if not self.durable:
            opts.update({"fsync": "off", "full_page_writes": "off"})
        opts.update(self.settings)
        return ["-p", str(self.port), *(a for k, v in opts.items() for a in ("-c", f"{k}={v}"))]

    def _launch(self) -> None:
        """Run ``postgres`` as this process's child and wait until it accepts connections.

        Through util-linux's ``setpriv --pdeathsig QUIT`` (when there) the server shuts down
        at once if this process dies without stopping it (killed, timed out): no server is
        left running behind a test run.
        """
        import psycopg

        assert self._bin is not None and self.dir is not None
        argv = [str(self._bin / "postgres"), "-D", str(self.dir / "data"), *self._options()]
        kwargs: dict[str, Any] = {}
        setpriv = shutil.which("setpriv")
        if setpriv:
            creds = ["--reuid", self._user, "--regid", self._user, "--init-groups"] \
                if self._user else []
            argv = [setpriv, *creds, "--pdeathsig", "QUIT", "--", *argv]
        elif self._user is not None:
            kwargs["user"] = self._user
        log_file = (self.dir / "server.log").open("ab")
        try:
            self._proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=self.dir, **kwargs)
        except OSError as exc:
            raise BackendError(f"cannot start postgres: {exc}") from None
        finally:
            log_file.close()
        deadline = time.monotonic() + 60.0
        while True:
            if self._proc.poll() is not None:
                tail = (self.dir / "server.log").read_text(errors="replace")[-800:]
                self._proc = None
                raise BackendError(f"postgres exited at start: {tail}")
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self._terminate()
                    raise BackendError("postgres did not accept connections within 60 s") \
                        from None
            time.sleep(0.05)  # polling a child process's start: there is no event to await

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # SIGINT: PostgreSQL's fast shutdown (clients disconnected, no checkpoint wait).
        for signum, wait_s in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0),
                               (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            proc.send_signal(signum)
            try:
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue

    @staticmethod
    def _run_as() -> str | None:
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        raise PostgresMissing("running as root, and there is no 'postgres' user to run "
                              "PostgreSQL as (initdb refuses root)")

    def _cmd(self, argv: list[str]) -> None:
        assert self._bin is not None
        kwargs: dict[str, Any] = {}
        if self._user is not None:
            kwargs["user"] = self._user
        try:
            done = subprocess.run([str(self._bin / argv[0]), *argv[1:]], capture_output=True,
                                  text=True, timeout=120, cwd=self.dir, check=False, **kwargs)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"{argv[0]} failed: {exc}") from None
        if done.returncode != 0:
            log_tail = ""
            log_file = (self.dir or Path(".")) / "server.log"
            if log_file.is_file():
                log_tail = log_file.read_text(errors="replace")[-800:]
            raise BackendError(f"{argv[0]} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout).strip()[-800:]} {log_tail}")

    @property
    def pid(self) -> int | None:
        """The server's (postmaster's) process id; None when not running."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def create_database(self, name: str) -> str:
        """Create database ``name`` (if missing); returns its store URL."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                 (name,)).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete its directory; safe to call more than once."""
        directory, self.dir = self.dir, None
        if directory is None:
            return
        atexit.unregister(self.stop)
        self._terminate()
        shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
