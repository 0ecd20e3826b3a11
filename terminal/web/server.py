"""Serve an ASGI app with uvicorn on a background thread, bound to a chosen address.

The kiosk's screen, the emulator's dev panel and the bike unit's status page all run this way:
the terminal process owns the devices and the flows, and the page talks to it over loopback.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

from terminal.errors import TerminalError

log = logging.getLogger(__name__)


class WebServerError(TerminalError):
    """A local web server could not start."""


class WebServer:
    """``app`` served on ``host:port`` (port 0 picks a free one) until :meth:`close`.

    ``ready_path`` is fetched until it answers 200 before :meth:`start` returns.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 name: str = "scanpay-web", ready_path: str = "/healthz",
                 start_timeout_s: float = 15.0) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._name = name
        self._ready_path = ready_path
        self._start_timeout_s = start_timeout_s
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    @property
    def port(self) -> int:
        """The port served on (after :meth:`start`)."""
        return int(self.url.rsplit(":", 1)[1]) if self.url else 0

    def start(self) -> WebServer:
        """Bind, start serving and wait until the ready path answers."""
        import requests
        import uvicorn

        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted connections inherit this; without it small pushes wait for delayed ACKs.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            raise WebServerError(f"cannot listen on {self._host}:{self._port}: "
                                 f"{exc.strerror or exc}") from None
        port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=self._name, daemon=True)
        self._thread.start()
        self.url = f"http://{self._host}:{port}"
        deadline = time.monotonic() + self._start_timeout_s
        wake = threading.Event()
        while True:
            try:
                if requests.get(self.url + self._ready_path, timeout=1.0).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                sock.close()
                raise WebServerError(f"{self._name} did not start on port {port}")
            wake.wait(0.02)
        log.info("%s serving at %s", self._name, self.url)
        return self

    def close(self) -> None:
        """Stop serving; safe to call more than once."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10.0)
            if thread.is_alive():
                log.warning("%s did not stop within 10 s", self._name)

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
