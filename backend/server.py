"""Run the reference back end with uvicorn on a background thread (tests, emulator, demo)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

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
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        server = uvicorn.Server(config)
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
