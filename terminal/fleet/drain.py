"""The unit's SQLite outbox drained over MQTT: batches of up to 500 events on ``up/events``.

The outbox stays the offline buffer: an event is marked delivered only once the broker has
answered the batch's PUBACK. Nothing is published while the link is down (events simply wait);
a batch published before the connection dropped is waited for again rather than sent a second
time (paho re-sends it after reconnecting). A batch whose PUBACK never came is sent again
later; the back end takes event ids idempotently, so a redelivery is counted as a duplicate
and never stored twice.

:class:`EventDrain` has the HTTP uploader's interface (``start``, ``stop``, ``notify``,
``run_once``, ``flush``), so a unit uses one or the other.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from payments.fleet_messages import MAX_EVENTS, Events, format_time
from payments.outbox import Outbox
from payments.uploader import FlushReport, UploadReport
from terminal.fleet.link import MqttLink

log = logging.getLogger(__name__)


class EventDrain:
    """Moves outbox events to the broker; call :meth:`run_once`, :meth:`flush` or :meth:`start`."""

    def __init__(self, outbox: Outbox, link: MqttLink, *, batch_size: int = MAX_EVENTS,
                 puback_timeout_s: float = 10.0, idle_interval_s: float = 30.0,
                 wall: Callable[[], float] = time.time) -> None:
        if not 1 <= batch_size <= MAX_EVENTS:
            raise ValueError(f"batch_size must be in 1..{MAX_EVENTS}, got {batch_size}")
        self._outbox = outbox
        self._link = link
        self._batch_size = batch_size
        self._puback_timeout_s = puback_timeout_s
        self._idle_interval_s = idle_interval_s
        self._wall = wall
        self._run_lock = threading.Lock()
        # The batch last published whose PUBACK has not come yet: (event ids, message id),
        # the link's connect count when it was sent, and how many waits for it timed out.
        self._in_flight: tuple[tuple[str, ...], int] | None = None
        self._in_flight_connects = 0
        self._in_flight_waits = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches_sent = 0

    def run_once(self) -> UploadReport:
        """Publish at most one batch and wait for its PUBACK."""
        with self._run_lock:
            return self._run_once()

    def _run_once(self) -> UploadReport:
        if not self._link.connected:
            return UploadReport(skipped=True, error="not connected to the broker")
        batch = self._outbox.pending(self._batch_size)
        if not batch:
            return UploadReport()
        events = [p.event for p in batch]
        ids = tuple(e.id for e in events)
        if self._in_flight is not None and ids[:len(self._in_flight[0])] == self._in_flight[0]:
            # Already sent (newer events may have joined since): wait for the same message.
            ids, mid = self._in_flight[0], self._in_flight[1]
        else:
            published = self._link.publish(Events(
                device_id=self._link.device_id, sent_at=format_time(self._wall()),
                events=tuple(e.to_dict() for e in events)))
            if published is None:
                return UploadReport(skipped=True, error="not connected to the broker")
            mid = published
            self.batches_sent += 1
            self._in_flight = (ids, mid)
            self._in_flight_connects, self._in_flight_waits = self._link.connects, 0
        if not self._link.wait_acked(mid, self._puback_timeout_s):
            self._in_flight_waits += 1
            if self._link.connects != self._in_flight_connects or self._in_flight_waits >= 3:
                # paho re-sent it after reconnecting and still no PUBACK (or none at all):
                # publish the events again (the back end counts a redelivery as duplicates).
                self._in_flight = None
            self._outbox.record_attempt(ids, "no PUBACK from the broker")
            log.warning("fleet: no PUBACK for %d events within %.0f s; kept for retry",
                        len(ids), self._puback_timeout_s)
            return UploadReport(sent=len(ids), error="no PUBACK from the broker")
        self._in_flight = None
        delivered = self._outbox.mark_delivered(ids)
        return UploadReport(sent=len(ids), delivered=delivered)

    def flush(self, deadline_s: float) -> FlushReport:
        """Deliver all it can within ``deadline_s`` (waiting for the link when it is down)."""
        end = time.monotonic() + deadline_s
        delivered = batches = 0
        error: str | None = None
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            if not self._link.connected and not self._link.wait_connected(left):
                error = "not connected to the broker"
                break
            report = self.run_once()
            batches += 1 if report.sent else 0
            delivered += report.delivered
            error = report.error
            if report.sent == 0 and not report.skipped:
                break
        return FlushReport(delivered, 0, batches, self._outbox.counts().pending, error)

    # -- background thread -------------------------------------------------------------------

    def notify(self) -> None:
        """Wake the background thread (an event was appended, or the link came back)."""
        self._wake.set()

    def start(self) -> None:
        """Drain in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="scanpay-fleet-events",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the background thread (idempotent)."""
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                report = self.run_once()
            except Exception:  # keep the thread alive; the outbox keeps the events
                log.exception("fleet: event drain step failed")
                report = UploadReport(error="failed")
            more = report.sent >= self._batch_size and report.error is None
            if not more:
                self._wake.wait(self._idle_interval_s)
                self._wake.clear()
