"""Moves events from the outbox to the score service: batches, backoff, at-least-once.

Each event is marked delivered only after the service acknowledged it (as new or as a
duplicate), so a crash between sending and marking re-sends it; event ids make that harmless.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from payments.clients.errors import ApiError, InvalidRequestError, ServiceUnavailable
from payments.clients.models import BatchResult
from payments.clients.retry import RetryPolicy
from payments.clients.score import MAX_BATCH_EVENTS
from payments.events import Event
from payments.outbox import Outbox

logger = logging.getLogger(__name__)


class EventUploadClient(Protocol):
    """What the uploader needs from the score service client."""

    def upload_events(self, events: Sequence[Event]) -> BatchResult:
        """Send one batch."""
        ...


@dataclass(frozen=True)
class UploadReport:
    """What one :meth:`Uploader.run_once` did."""

    sent: int = 0
    # Events marked delivered: new to the service plus those it already had.
    delivered: int = 0
    duplicates: int = 0
    rejected: int = 0
    # Why the batch failed (None on success or when nothing was sent).
    error: str | None = None
    # Seconds until the next attempt is allowed (0 when not backing off).
    retry_in_s: float = 0.0
    # True when nothing was sent because the uploader is still backing off.
    skipped: bool = False


@dataclass(frozen=True)
class FlushReport:
    """What :meth:`Uploader.flush` did, and what is left."""

    delivered: int
    rejected: int
    batches: int
    pending: int
    error: str | None


class Uploader:
    """Sends outbox events in batches; call :meth:`run_once`, :meth:`flush` or :meth:`start`."""

    def __init__(
        self,
        outbox: Outbox,
        score_client: EventUploadClient,
        *,
        batch_size: int = 100,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 300.0,
        idle_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        wait: Callable[[float], bool] | None = None,
        on_report: Callable[[UploadReport], None] | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_EVENTS:
            raise ValueError(f"batch_size must be in 1..{MAX_BATCH_EVENTS}, got {batch_size}")
        if idle_interval_s <= 0:
            raise ValueError("idle_interval_s must be positive")
        self._outbox = outbox
        self._client = score_client
        self._batch_size = batch_size
        self._current_batch = batch_size
        self._policy = RetryPolicy(0, backoff_base_s, backoff_max_s)
        self._idle_interval_s = idle_interval_s
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._injected_wait = wait
        self._on_report = on_report
        self._run_lock = threading.Lock()
        self._failures = 0
        self._next_attempt_at = float("-inf")
        self._thread: threading.Thread | None = None

    # -- one step ----------------------------------------------------------------------------

    def run_once(self) -> UploadReport:
        """Send at most one batch, unless still backing off from a failure."""
        with self._run_lock:
            report = self._run_once()
        if self._on_report is not None:
            self._on_report(report)
        return report

    def _run_once(self) -> UploadReport:
        now = self._clock()
        if now < self._next_attempt_at:
            return UploadReport(skipped=True, retry_in_s=self._next_attempt_at - now)
        batch = self._outbox.pending(self._current_batch)
        if not batch:
            return UploadReport()
        events = [p.event for p in batch]
        ids = [e.id for e in events]
        try:
            result = self._client.upload_events(events)
        except ApiError as exc:
            return self._failed(events, exc)
        sent = set(ids)
        rejected = [r for r in result.rejected if r.id in sent]
        for r in result.rejected:
            if r.id not in sent:
                logger.warning("score service rejected event %s that was not sent", r.id)
        rejected_ids = {r.id for r in rejected}
        delivered = self._outbox.mark_delivered(i for i in ids if i not in rejected_ids)
        for r in rejected:
            logger.error("dropping event %s: the score service rejected it: %s", r.id, r.error)
        self._outbox.mark_dropped((r.id, r.error) for r in rejected)
        self._failures = 0
        self._next_attempt_at = float("-inf")
        self._current_batch = self._batch_size
        return UploadReport(
            sent=len(ids), delivered=delivered, duplicates=result.duplicates,
            rejected=len(rejected),
        )

    def _failed(self, events: list[Event], exc: ApiError) -> UploadReport:
        ids = [e.id for e in events]
        if isinstance(exc, InvalidRequestError) and not isinstance(exc, ServiceUnavailable):
            # The service refused the whole batch as malformed: narrow it down by halving,
            # and drop a single event the service refuses on its own.
            if len(events) == 1:
                logger.error("dropping event %s: the score service refused it: %s", ids[0], exc)
                self._outbox.mark_dropped([(ids[0], str(exc))])
                return UploadReport(sent=1, rejected=1, error=str(exc))
            self._current_batch = max(1, len(events) // 2)
            self._outbox.record_attempt(ids, str(exc))
            logger.warning(
                "score service refused a batch of %d (%s); retrying with %d",
                len(events), exc.code, self._current_batch,
            )
            return UploadReport(sent=len(events), error=str(exc))
        self._failures += 1
        delay = self._policy.delay(self._failures, self._rng)
        self._next_attempt_at = self._clock() + delay
        self._outbox.record_attempt(ids, str(exc))
        log = logger.warning if isinstance(exc, ServiceUnavailable) else logger.error
        log(
            "could not upload %d events (%s); attempt %d failed, next in %.1f s",
            len(events), exc, self._failures, delay,
        )
        return UploadReport(sent=len(events), error=str(exc), retry_in_s=delay)

    # -- draining ----------------------------------------------------------------------------

    def flush(self, deadline_s: float) -> FlushReport:
        """Deliver all it can within ``deadline_s`` seconds, waiting out backoffs that fit.

        Works whether or not the background thread runs (e.g. at shutdown after :meth:`stop`).
        """
        wait = self._injected_wait or _plain_wait
        end = self._clock() + deadline_s
        delivered = rejected = batches = 0
        error: str | None = None
        while True:
            report = self.run_once()
            if report.sent:
                batches += 1
            delivered += report.delivered
            rejected += report.rejected
            if report.error is not None:
                error = report.error
            if report.retry_in_s > 0:
                if self._clock() + report.retry_in_s >= end:
                    break
                if wait(report.retry_in_s):
                    break
                continue
            if report.sent == 0 and not report.skipped:
                error = None
                break
            if report.error is None:
                error = None
            if self._clock() >= end:
                break
        return FlushReport(delivered, rejected, batches, self._outbox.counts().pending, error)

    # -- background thread -------------------------------------------------------------------

    def _wait_for_wake(self, seconds: float) -> bool:
        """Wait up to ``seconds`` or until woken; True when stopping."""
        self._wake.wait(seconds)
        self._wake.clear()
        return self._stopping.is_set()

    def notify(self) -> None:
        """Wake the background thread early (e.g. right after appending an event)."""
        self._wake.set()

    def start(self) -> None:
        """Run uploads in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="scanpay-uploader", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the background thread (idempotent); waits up to ``timeout_s`` for it."""
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                logger.warning("uploader thread did not stop within %.1f s", timeout_s)

    def __enter__(self) -> Uploader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                report = self.run_once()
            except Exception:  # keep the thread alive; the outbox keeps the events
                logger.exception("uploader step failed")
                interval = self._idle_interval_s
            else:
                if report.retry_in_s > 0:
                    interval = report.retry_in_s
                elif report.sent and report.error is None and report.sent >= self._current_batch:
                    interval = 0.0  # a full batch: more may be waiting
                elif report.error is not None:
                    interval = 0.0  # narrowed batch after a refusal: go on
                else:
                    interval = self._idle_interval_s
            wait = self._injected_wait or self._wait_for_wake
            if interval > 0 and wait(interval):
                break


def _plain_wait(seconds: float) -> bool:
    """Wait ``seconds`` (nothing can interrupt it); never asks to stop."""
    threading.Event().wait(seconds)
    return False
