"""A loopback HTTP proxy in front of the reference back end that loses answers on purpose."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FaultProxy:
    """Forwards every request to ``upstream``; can drop the answer after the back end acted.

    ``lose_answers(method, path_prefix, count)`` makes the next ``count`` matching requests reach
    the back end (which commits them) while the caller gets the connection closed with no
    answer — the "hold committed after the client gave up" case. ``count=None`` loses every
    matching answer until :meth:`heal`.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._lock = threading.Lock()
        self._rule: tuple[str, str, int | None] | None = None
        self.lost: list[str] = []
        self.forwarded: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection")}
                upstream_conn = http.client.HTTPConnection(outer._host, outer._port, timeout=30)
                try:
                    upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream_conn.getresponse()
                    payload = answer.read()
                finally:
                    upstream_conn.close()
                line = f"{self.command} {self.path}"
                if outer._should_lose(self.command, self.path):
                    outer.lost.append(line)
                    self.close_connection = True  # hang up without a word
                    return
                outer.forwarded.append(line)
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "date", "server",
                                            "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle
            do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def lose_answers(self, method: str, path_prefix: str, count: int | None = None) -> None:
        """Lose the answers of the next ``count`` matching requests (all with None); method
        ``"*"`` matches every method."""
        with self._lock:
            self._rule = (method, path_prefix, count)

    def heal(self) -> None:
        """Forward every answer again."""
        with self._lock:
            self._rule = None

    def _should_lose(self, method: str, path: str) -> bool:
        with self._lock:
            if self._rule is None:
                return False
            rule_method, prefix, count = self._rule
            if rule_method not in ("*", method) or not path.startswith(prefix):
                return False
            if count is not None:
                count -= 1
                self._rule = (rule_method, prefix, count) if count > 0 else None
            return True

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
