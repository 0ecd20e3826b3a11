"""A loopback HTTP proxy in front of the reference back end that breaks answers on purpose."""

from __future__ import annotations

import http.client
import logging
import random
import socket
import struct
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Faults drawn at random per request. "refused", "timeout" and "error_5xx" never reach the back
# end; the others are applied to the back end's real answer (it has acted).
FAULT_KINDS = ("refused", "timeout", "drip", "error_5xx", "malformed", "truncated", "lost")
_HOP_HEADERS = ("content-length", "connection", "date", "server", "transfer-encoding")


class FaultProxy:
    """Forwards every request to ``upstream``, breaking some answers.

    ``lose_answers(method, path_prefix, count)`` makes the next ``count`` matching requests reach
    the back end (which commits them) while the caller gets the connection closed with no
    answer; ``count=None`` loses every matching answer until :meth:`heal`.

    With ``fault_rate`` > 0, each request gets one of ``faults`` with that probability (drawn
    from ``random.Random(seed)``): ``refused`` (the connection is reset before the request is
    read: the client sees a connection error), ``timeout`` (no answer for ``hold_s``, then
    the connection closes; the back end never saw it), ``drip`` (the real answer, a few bytes
    at a time), ``error_5xx`` (503 without asking the back end), ``malformed`` (a 200 with a
    body that is not JSON), ``truncated`` (half the real body, then the connection closes) and
    ``lost`` (the back end acted, the connection closes with no answer). ``injected`` counts
    what was done.
    """

    def __init__(self, upstream: str, *, fault_rate: float = 0.0, seed: int = 0,
                 faults: tuple[str, ...] = FAULT_KINDS, hold_s: float = 4.0,
                 drip_s: float = 0.6) -> None:
        unknown = set(faults) - set(FAULT_KINDS)
        if unknown or not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"bad faults {sorted(unknown)} or rate {fault_rate}")
        parts = urlsplit(upstream)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._lock = threading.Lock()
        self._rule: tuple[str, str, int | None] | None = None
        self._rate, self._faults, self._rng = fault_rate, faults, random.Random(seed)
        self._hold_s, self._drip_s = hold_s, drip_s
        self._closed = threading.Event()
        self.lost: list[str] = []
        self.forwarded: list[str] = []
        self.injected: Counter[str] = Counter()
        outer = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: object, client_address: object) -> bool:
                if outer._draw_refused():
                    assert isinstance(request, socket.socket)
                    # Reset at once: linger 0 sends RST, nothing is read or forwarded.
                    request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
                    return False
                return True

            def handle_error(self, request: object, client_address: object) -> None:
                log.debug("proxy connection from %s ended badly", client_address,
                          exc_info=True)  # clients hang up on broken answers: expected

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                line = f"{self.command} {self.path}"
                fault = outer._draw()
                if fault == "timeout":
                    outer._closed.wait(outer._hold_s)
                    self.close_connection = True
                    return
                if fault == "error_5xx":
                    self._answer(503, [("Content-Type", "application/json")],
                                 b'{"detail": "injected: service unavailable"}')
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection")}
                upstream_conn = http.client.HTTPConnection(outer._host, outer._port, timeout=30)
                try:
                    upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream_conn.getresponse()
                    payload = answer.read()
                except OSError:
                    self.close_connection = True  # the back end is down: hang up
                    return
                finally:
                    upstream_conn.close()
                if fault == "lost" or outer._should_lose(self.command, self.path):
                    outer.lost.append(line)
                    self.close_connection = True  # hang up without a word
                    return
                outer.forwarded.append(line)
                kept = [(n, v) for n, v in answer.getheaders() if n.lower() not in _HOP_HEADERS]
                if fault == "malformed":
                    self._answer(200, [("Content-Type", "application/json")],
                                 b"<html>injected: not json")
                elif fault == "truncated":
                    self._answer(answer.status, kept, payload, cut=max(1, len(payload) // 2))
                elif fault == "drip":
                    self._answer(answer.status, kept, payload, drip=True)
                else:
                    self._answer(answer.status, kept, payload)

            def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes, *,
                        cut: int | None = None, drip: bool = False) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if cut is not None:
                    self.wfile.write(payload[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                elif drip:
                    pieces = [payload[i:i + 8] for i in range(0, len(payload), 8)] or [b""]
                    pause = outer._drip_s / len(pieces)
                    for piece in pieces:
                        self.wfile.write(piece)
                        self.wfile.flush()
                        if outer._closed.wait(pause):
                            break
                else:
                    self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle
            do_PUT = _handle
            do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._started = False

    @property
    def url(self) -> str:
        """Where clients should send their requests."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def lose_answers(self, method: str, path_prefix: str, count: int | None = None) -> None:
        """Lose the answers of the next ``count`` matching requests (all with None); method
        ``"*"`` matches every method."""
        with self._lock:
            self._rule = (method, path_prefix, count)

    def heal(self) -> None:
        """Forward every answer again (random faults too stop)."""
        with self._lock:
            self._rule = None
            self._rate = 0.0

    def _draw_refused(self) -> bool:
        with self._lock:
            if self._rate and "refused" in self._faults and self._rng.random() < (
                    self._rate / len(self._faults)):
                self.injected["refused"] += 1
                return True
            return False

    def _draw(self) -> str:
        """The fault for this request ("" for none); "refused" is drawn at connect time."""
        with self._lock:
            others = [f for f in self._faults if f != "refused"]
            share = self._rate * len(others) / len(self._faults) if self._faults else 0.0
            if not others or self._rng.random() >= share:
                return ""
            fault = self._rng.choice(others)
            self.injected[fault] += 1
            return fault

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

    def start(self) -> FaultProxy:
        """Start serving; returns self."""
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (idempotent)."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._started:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

