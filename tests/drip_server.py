"""A loopback HTTP server that answers slowly on purpose: headers or body a byte at a time."""

from __future__ import annotations

import socket
import threading


class DripServer:
    """Answers every request with a JSON object, sending ``drip`` bytes every ``interval_s``.

    ``part`` is ``"body"`` (status line and headers at once, then the body drips) or
    ``"headers"`` (everything drips, from the status line on). The drip stops when the client
    hangs up or the server is closed.
    """

    def __init__(self, *, part: str = "body", interval_s: float = 0.05, drip: int = 1,
                 body_bytes: int = 4000, status: int = 200) -> None:
        if part not in ("body", "headers"):
            raise ValueError(f"part must be 'body' or 'headers', got {part!r}")
        self._part, self._interval, self._drip = part, interval_s, drip
        filler = "x" * max(0, body_bytes - 16)
        self._body = f'{{"pad":"{filler}"}}'.encode()
        self._status = status
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._threads: list[threading.Thread] = []
        self.requests = 0
        self.hung_up = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()
        return f"http://{host}:{port}"

    def __enter__(self) -> DripServer:
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            self.requests += 1
            head = (f"HTTP/1.1 {self._status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(self._body)}\r\nX-Request-Id: req_drip\r\n\r\n").encode()
            if self._part == "body":
                conn.sendall(head)
                rest = self._body
            else:
                rest = head + self._body
            for start in range(0, len(rest), self._drip):
                if self._stop.wait(self._interval):
                    return
                try:
                    conn.sendall(rest[start:start + self._drip])
                except OSError:
                    self.hung_up.set()
                    return
