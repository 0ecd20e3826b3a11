"""Serve the unit's metrics at ``http://HOST:PORT/metrics`` from a background thread."""

from __future__ import annotations

import logging

from terminal.errors import TerminalError
from terminal.metrics.unit import UnitMetrics

log = logging.getLogger(__name__)


class MetricsServerError(TerminalError):
    """The metrics endpoint could not be started."""


class MetricsServer:
    """The Prometheus text endpoint of ``metrics``; a context manager with idempotent close()."""

    def __init__(self, metrics: UnitMetrics, *, host: str = "127.0.0.1", port: int = 0) -> None:
        from prometheus_client import start_http_server

        try:
            self._httpd, self._thread = start_http_server(port, addr=host,
                                                          registry=metrics.registry)
        except OSError as exc:
            raise MetricsServerError(f"cannot serve metrics on {host}:{port}: "
                                     f"{exc.strerror or exc}") from None
        self.host = host
        self._closed = False
        log.info("metrics at %s", self.url)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self._httpd.server_port)

    @property
    def url(self) -> str:
        """Where the metrics are served."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5.0)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
