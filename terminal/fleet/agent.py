"""One device's whole fleet link: connection, state, reports, commands and events together.

A unit builds a :class:`FleetAgent` from its settings and a :class:`UnitControl`, then
:meth:`FleetAgent.start` it (connects in the background and, unless ``tick_s`` is 0, ticks the
reporter on a thread). Tests pass a manual clock and ``tick_s=0`` and call :meth:`tick`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from payments.fleet_messages import Ack, Message
from payments.outbox import Outbox
from terminal.fleet.commands import CommandRunner
from terminal.fleet.control import UnitControl
from terminal.fleet.drain import EventDrain
from terminal.fleet.link import MqttLink
from terminal.fleet.reporter import Reporter
from terminal.fleet.settings import FleetSettings
from terminal.fleet.store import FleetStore

log = logging.getLogger(__name__)


class FleetAgent:
    """The fleet link of one device; a context manager, :meth:`close` is idempotent."""

    def __init__(self, settings: FleetSettings, control: UnitControl, *, state_dir: Path,
                 outbox: Outbox | None = None, low_battery_pct: float = 15.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, tick_s: float = 1.0,
                 puback_timeout_s: float = 10.0) -> None:
        self.settings = settings
        self._tick_s = tick_s
        self.store = FleetStore(Path(state_dir) / "fleet.sqlite3", clock=wall)
        self.link = MqttLink(settings, wall=wall, on_command=self._command,
                             on_connected=self._connected)
        self.reporter = Reporter(settings.device_id, control, send=self._send,
                                 next_seq=self.store.next_seq,
                                 interval_s=self.store.interval_s() or settings.heartbeat_s,
                                 low_battery_pct=low_battery_pct, clock=clock, wall=wall)
        self.commands = CommandRunner(settings.device_id, self.store, control,
                                      send_ack=self._send_ack, set_interval=self._set_interval,
                                      wall=wall)
        self.drain: EventDrain | None = None
        if outbox is not None and settings.events_over_mqtt:
            self.drain = EventDrain(outbox, self.link, puback_timeout_s=puback_timeout_s,
                                    wall=wall)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> FleetAgent:
        """Connect, run commands and (``tick_s`` > 0) the reporter's ticker; returns self."""
        if self._started:
            return self
        self._started = True
        self.commands.start()
        self.link.start()
        if self.drain is not None:
            self.drain.start()
        if self._tick_s > 0:
            self._thread = threading.Thread(target=self._ticker, name="scanpay-fleet-ticker",
                                            daemon=True)
            self._thread.start()
        return self

    def tick(self) -> None:
        """Send the reports and alarms that are due."""
        self.reporter.tick()

    def close(self) -> None:
        """Stop everything (the link says offline on the way out); safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if self.drain is not None:
            self.drain.stop()
        self.commands.stop()
        self.link.stop()
        self.store.close()

    def __enter__(self) -> FleetAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- wiring --------------------------------------------------------------------------------

    def _ticker(self) -> None:
        while not self._stop.wait(self._tick_s):
            try:
                self.reporter.tick()
            except Exception:
                log.exception("fleet: report failed")

    def _connected(self) -> None:
        self.reporter.report_now()
        if self.drain is not None:
            self.drain.notify()

    def _command(self, payload: bytes) -> None:
        self.commands.submit(payload)

    def _send(self, msg: Message, queue_offline: bool) -> bool:
        return self.link.publish(msg, queue_offline=queue_offline) is not None

    def _send_ack(self, ack: Ack) -> None:
        self.link.publish(ack, queue_offline=True)
        self.reporter.report_now()  # the state after a command goes out on the next tick

    def _set_interval(self, seconds: int) -> None:
        self.store.set_interval_s(seconds)
        self.reporter.set_interval(seconds)
