"""A loopback TCP relay between a device's clients and a back end, with an online switch.

The emulator points the device at the relay instead of the back end. Taken offline, the relay
resets every new connection at once and cuts the open ones, so the device really sees the
service go away (connection errors, not a polite HTTP 503); back online, traffic flows again.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType

from hardware._callbacks import CallbackList
from hardware.ports import Callback, Unsubscribe
from terminal.errors import TerminalError

log = logging.getLogger(__name__)

_CHUNK = 65536
_CONNECT_TIMEOUT_S = 2.0


class LinkError(TerminalError):
    """The relay could not listen."""


class Link:
    """Relays ``host:port`` (port 0 picks a free one) to ``target`` while online."""

    def __init__(self, target: tuple[str, int], *, host: str = "127.0.0.1", port: int = 0,
                 name: str = "link") -> None:
        self._target = (str(target[0]), int(target[1]))
        self._host, self._port = host, port
        self.name = name
        self._online = True
        self._mutex = threading.Lock()
        self._pairs: set[_Pair] = set()
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._changed = CallbackList("on_change")
        self.accepted = 0  # connections relayed
        self.refused = 0  # connections reset because the link was offline or the target down

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> Link:
        """Listen and start relaying; returns self."""
        if self._thread is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self._host, self._port))
            listener.listen(64)
        except OSError as exc:
            listener.close()
            raise LinkError(f"{self.name}: cannot listen on {self._host}:{self._port}: "
                            f"{exc.strerror or exc}") from None
        listener.setblocking(False)
        self._listener = listener
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept",
                                        daemon=True)
        self._thread.start()
        log.info("%s relaying %s to %s:%d", self.name, self.address, *self._target)
        return self

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the relay listens on (after :meth:`start`)."""
        if self._listener is None:
            raise LinkError(f"{self.name} is not started")
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """``http://host:port`` of the relay."""
        host, port = self.address
        return f"http://{host}:{port}"

    def close(self) -> None:
        """Stop listening and cut every connection; safe to call twice."""
        thread = self._thread
        with self._mutex:
            if self._stopping:
                return
            self._stopping = True
        self._cut_all()
        if self._wake_w is not None:
            self._wake_w.send(b"x")
        if thread is not None:
            thread.join(timeout=5.0)
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._changed.clear()

    def __enter__(self) -> Link:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the switch -----------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """True while traffic is relayed."""
        return self._online

    @property
    def open_connections(self) -> int:
        """Connections relayed right now."""
        with self._mutex:
            return len(self._pairs)

    def set_online(self, online: bool) -> None:
        """Bring the link up, or take it down and cut every open connection."""
        with self._mutex:
            changed = self._online != bool(online)
            self._online = bool(online)
        if not online:
            self._cut_all()
        if changed:
            log.info("%s is now %s", self.name, "online" if online else "offline")
            self._changed.fire()

    def on_change(self, callback: Callback) -> Unsubscribe:
        """Call ``callback()`` whenever the link goes online or offline."""
        return self._changed.add(callback)

    # -- relaying -------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake_r is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fileobj is self._listener and not self._stopping:
                        self._accept()

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        client.setblocking(True)
        if not self._online:
            self._refuse(client)
            return
        try:
            upstream = socket.create_connection(self._target, timeout=_CONNECT_TIMEOUT_S)
        except OSError as exc:
            log.info("%s: target %s:%d unreachable (%s)", self.name, *self._target, exc)
            self._refuse(client)
            return
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = _Pair(client, upstream, self._forget)
        with self._mutex:
            if not self._online or self._stopping:
                self.refused += 1
                _reset(client)
                _reset(upstream)
                return
            self._pairs.add(pair)
            self.accepted += 1
        pair.start(self.name)

    def _refuse(self, client: socket.socket) -> None:
        self.refused += 1
        _reset(client)

    def _forget(self, pair: _Pair) -> None:
        with self._mutex:
            self._pairs.discard(pair)

    def _cut_all(self) -> None:
        with self._mutex:
            pairs = list(self._pairs)
            self._pairs.clear()
        for pair in pairs:
            pair.cut()


class _Pair:
    """One relayed connection: two pumps, one per direction."""

    def __init__(self, client: socket.socket, upstream: socket.socket,
                 on_done: Callable[[_Pair], None]) -> None:
        self.client, self.upstream = client, upstream
        self._on_done = on_done
        self._left = 2
        self._mutex = threading.Lock()

    def start(self, name: str) -> None:
        for src, dst, way in ((self.client, self.upstream, "up"),
                              (self.upstream, self.client, "down")):
            threading.Thread(target=self._pump, args=(src, dst), name=f"{name}-{way}",
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(_CHUNK):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            self.cut()
        finally:
            with self._mutex:
                self._left -= 1
                last = self._left == 0
            if last:
                self.client.close()
                self.upstream.close()
                self._on_done(self)

    def cut(self) -> None:
        """Abort both sides at once; the pumps wake up, end and close the sockets."""
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):  # already gone
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _ABORT)
                sock.shutdown(socket.SHUT_RDWR)


_ABORT = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset instead of an orderly goodbye."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _ABORT)
    sock.close()
