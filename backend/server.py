"""Run the reference back end with uvicorn on a background thread (tests, emulator, demo)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from backend.context import Backend
from backend.errors import BackendError
from backend.roles import Role
from backend.settings import BackendSettings, is_loopback

log = logging.getLogger(__name__)


class BackendServer:
    """The reference back end serving on ``host`` (default 127.0.0.1) on a free port.

    Use as a context manager::

        with BackendServer(BackendSettings()) as server:
            key = server.api_key_for("emu-bike-0001")
            requests.get(f"{server.url}/v1/subjects/rider-good/score",
                         headers={"Authorization": f"Bearer {key}"})
    """

    def __init__(self, settings: BackendSettings | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, start_timeout_s: float = 15.0) -> None:
        self.settings = settings or BackendSettings()
        self._host = host
        self._port = port
        self._start_timeout_s = start_timeout_s
        self._server: object | None = None
        self._thread: threading.Thread | None = None
        self._backend: Backend | None = None
        self.url = ""

    @property
    def backend(self) -> Backend:
        """The running back end (store, clock, keys)."""
        if self._backend is None:
            raise BackendError("the back end is not running")
        return self._backend

    def api_key_for(self, terminal_id: str, role: Role | None = None) -> str:
        """The development API key of ``terminal_id`` (dev mode; any id gets one, its role
        from the id: see :func:`backend.roles.dev_role`)."""
        return self.backend.api_key_for(terminal_id, role)

    def start(self) -> BackendServer:
        """Start serving and wait until ``/v1/health`` answers."""
        import requests
        import uvicorn

        from backend.app import create_app

        if self._thread is not None:
            return self
        if self.settings.dev and not is_loopback(self._host):
            raise BackendError(f"a dev-mode back end binds loopback only, not {self._host} "
                               "(its keys derive from the public development seed)")
        app = create_app(self.settings)
        self._backend = app.state.backend
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted connections inherit this; without it every keep-alive response waits
            # ~40 ms for the client's delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            self.backend.close()
            raise BackendError(f"cannot listen on {self._host}:{self._port}: {exc}") from None
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn_config(app))
        self._server = server
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                        name="scanpay-backend", daemon=True)
        self._thread.start()
        self.url = f"http://{self._host}:{port}"
        deadline = time.monotonic() + self._start_timeout_s
        wake = threading.Event()
        while True:
            try:
                if requests.get(f"{self.url}/v1/health", timeout=1.0).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                sock.close()
                raise BackendError(f"the back end did not start on port {port}")
            wake.wait(0.02)
        log.info("reference back end serving at %s", self.url)
        return self

    def close(self) -> None:
        """Stop serving and close the database; safe to call more than once."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.should_exit = True  # type: ignore[attr-defined]
        if thread is not None:
            thread.join(timeout=10.0)
            if thread.is_alive():
                log.warning("the back-end thread did not stop within 10 s")
        if self._backend is not None:
            self._backend.close()

    def __enter__(self) -> BackendServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def listening_socket(host: str, port: int, *, reuse_port: bool = False,
                     listen: bool = True) -> socket.socket:
    """A TCP socket bound to ``host:port`` (TCP_NODELAY; SO_REUSEPORT when asked, so that
    several worker processes each accept on their own socket of one port)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Accepted connections inherit this; without it every keep-alive response waits
        # ~40 ms for the client's delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise BackendError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def migrate_store(settings: BackendSettings) -> list[str]:
    """Apply the pending schema migrations of ``settings.database``; returns their names."""
    from backend.app import migrations
    from backend.migrations import migrate
    from backend.store import open_store

    store = open_store(settings.database, **settings.store_options)
    try:
        return migrate(store, migrations(), settings.clock())
    finally:
        store.close()


def uvicorn_config(app: Any, *, access_log: bool = False) -> Any:
    """The one uvicorn configuration of the back end (test server, ``backend serve`` and its
    workers): quiet logs, the app's lifespan, and the httptools protocol that sends each
    answer's head and body in one write (:mod:`backend.http_protocol`)."""
    import uvicorn

    from backend.http_protocol import CoalescingProtocol

    return uvicorn.Config(app, log_level="warning", access_log=access_log, lifespan="on",
                          http=CoalescingProtocol)


def _run_worker(settings: BackendSettings, host: str, port: int, index: int) -> None:
    import uvicorn

    from backend.app import create_app

    app = create_app(settings)
    sock = listening_socket(host, port, reuse_port=True)  # only once ready to serve
    try:
        uvicorn.Server(uvicorn_config(app)).run(sockets=[sock])
    finally:
        app.state.backend.close()
        sock.close()
    log.info("worker %d stopped", index)


def serve_workers(settings: BackendSettings, *, host: str, port: int, workers: int,
                  on_ready: Callable[[int], None] | None = None,
                  min_uptime_s: float = 3.0) -> int:
    """Serve with ``workers`` processes (pre-fork) until SIGINT/SIGTERM; returns an exit code.

    The schema is migrated once here, then each worker (a forked child) opens its own
    database connections and accepts on its own ``SO_REUSEPORT`` socket of ``port``, so the
    kernel spreads connections evenly. A worker that dies is started again, unless it died
    within ``min_uptime_s`` of its start (then everything stops: it would only die again).
    ``on_ready(port)`` runs once the workers are forked (``port`` resolved when 0 was asked).
    """
    import signal

    if workers < 1:
        raise BackendError("workers must be >= 1")
    # First without SO_REUSEPORT: a port some other server (even another back end) listens on
    # is refused rather than shared with it.
    probe = listening_socket(host, port, listen=False)
    port = probe.getsockname()[1]
    probe.close()
    # Holds the port (bound, never listening) so that port 0 resolves once for every worker.
    anchor = listening_socket(host, port, reuse_port=True, listen=False)
    if settings.migrate:
        migrate_store(settings)
    children: dict[int, tuple[int, float]] = {}
    stopping = False

    def fork(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                _run_worker(settings, host, port, index)
            except BaseException:
                log.exception("worker %d failed", index)
                code = 1
            finally:
                os._exit(code)
        children[pid] = (index, time.monotonic())

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        for i in range(workers):
            fork(i)
        if on_ready is not None:
            on_ready(port)
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            index, started = children.pop(pid, (-1, 0.0))
            if stopping or index < 0:
                continue
            log.warning("worker %d (pid %d) exited with status %d", index, pid, status)
            if time.monotonic() - started < min_uptime_s:
                code = 1
                stop(signal.SIGTERM, None)
                continue
            fork(index)
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)
        anchor.close()
    return code
