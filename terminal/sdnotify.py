"""The few lines of systemd's sd_notify protocol: READY=1, WATCHDOG=1, STOPPING=1, STATUS=.

systemd passes a unix datagram socket in ``NOTIFY_SOCKET`` (a path, or ``@name`` for the
abstract namespace) and, with ``WatchdogSec=``, the interval in ``WATCHDOG_USEC``. Outside
systemd both are absent and every call here does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends state lines to the service manager; a no-op when not started by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self._address = ("\0" + path[1:]) if path.startswith("@") else path
        self._socket: socket.socket | None = None
        self.watchdog_s = _watchdog_seconds(env)

    @property
    def enabled(self) -> bool:
        """True when a service manager listens."""
        return bool(self._address)

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` (``KEY=value``) as one datagram; False when nobody listens or it fails."""
        if not self._address:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX,
                                             socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Never block the service loop on a manager that does not read.
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(lines).encode("utf-8"), self._address)
        except BlockingIOError:
            log.debug("systemd's notify socket is full; %s not sent", lines[0])
            return False
        except OSError as exc:
            log.warning("cannot notify systemd at %r: %s", self._address, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """The service finished starting up."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """The service loop is alive."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """The service is shutting down."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Close the socket; safe to call twice."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> SystemdNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """The watchdog interval systemd expects pings within, None when there is none for us."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


class WatchdogPinger:
    """Call it from the service loop: sends WATCHDOG=1 at most every half interval.

    Without a watchdog interval it pings every ``default_every_s`` (cheap, harmless).
    """

    def __init__(self, notifier: SystemdNotifier, *, clock: Callable[[], float] = time.monotonic,
                 default_every_s: float = 5.0) -> None:
        self._notifier = notifier
        self._clock = clock
        interval = notifier.watchdog_s
        self.every_s = interval / 2 if interval else default_every_s
        self._last: float | None = None

    def __call__(self) -> None:
        """Ping if half the interval has passed since the last ping."""
        if not self._notifier.enabled:
            return
        now = self._clock()
        due = self._last is None or now - self._last >= self.every_s
        if due and self._notifier.watchdog():
            self._last = now
