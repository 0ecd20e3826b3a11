"""The unit's metrics in their own Prometheus registry: codes, decode time, liveness, payments,
errors, uptime. Counting is cheap and thread-safe; nothing is exported until a scrape."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# Seconds: decode time per frame (ms-scale) and payment latency (s-scale).
DECODE_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5)
PAYMENT_BUCKETS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 30.0)
LIVENESS_OUTCOMES = ("passed", "failed")


class UnitMetrics:
    """Counters, histograms and gauges of one running unit (``role``: bike-lock or kiosk)."""

    def __init__(self, *, terminal_id: str, role: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        self._started = clock()
        self._refreshers: list[Callable[[], None]] = []
        r = self.registry
        r.register(_BeforeScrape(self._refreshers))  # first: counters are current when read
        Info("scanpay_unit", "Which unit this is", registry=r).info(
            {"terminal_id": terminal_id, "role": role})
        self.codes_decoded = Counter("scanpay_codes_decoded", "Payment codes read by the camera",
                                     registry=r)
        self.decode_seconds = Histogram("scanpay_decode_seconds",
                                        "Decoder time of the frame that confirmed a code",
                                        buckets=DECODE_BUCKETS, registry=r)
        self.liveness = Counter("scanpay_liveness_outcomes", "Liveness checks by outcome",
                                ["outcome"], registry=r)
        self.payment_seconds = Histogram(
            "scanpay_payment_seconds", "From a code or a face seen to the payment's outcome",
            ["outcome"], buckets=PAYMENT_BUCKETS, registry=r)
        self.errors = Counter("scanpay_errors", "Warnings and errors logged, by component",
                              ["kind", "level"], registry=r)
        self.events = Counter("scanpay_events", "Events written to the outbox, by type",
                              ["type"], registry=r)
        uptime = Gauge("scanpay_uptime_seconds", "Seconds since the unit started", registry=r)
        uptime.set_function(lambda: self._clock() - self._started)

    def code_decoded(self, decode_s: float) -> None:
        """A payment code was confirmed; ``decode_s`` is the decoder's time on that frame."""
        self.codes_decoded.inc()
        self.decode_seconds.observe(max(0.0, decode_s))

    def liveness_outcome(self, outcome: str) -> None:
        """A liveness check ended ``passed`` or ``failed``."""
        self.liveness.labels(outcome=outcome).inc()

    def payment(self, seconds: float, outcome: str) -> None:
        """A payment attempt ended with ``outcome`` after ``seconds``."""
        self.payment_seconds.labels(outcome=outcome).observe(max(0.0, seconds))

    def error(self, kind: str, level: str = "error") -> None:
        """Count one problem of ``kind`` (a component name)."""
        self.errors.labels(kind=kind, level=level).inc()

    def event(self, event_type: str) -> None:
        """Count one outbox event of ``event_type``."""
        self.events.labels(type=event_type).inc()

    def add_collector(self, collector: Any,
                      refresh: Callable[[], None] | None = None) -> None:
        """Register a scrape-time collector (e.g. the outbox's backlog); ``refresh()`` runs
        at the start of every scrape, before any metric is read."""
        if refresh is not None:
            self._refreshers.append(refresh)
        self.registry.register(collector)

    def render(self) -> bytes:
        """Everything in the Prometheus text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _BeforeScrape:
    """A collector with no metrics of its own that brings counters up to date first."""

    def __init__(self, refreshers: list[Callable[[], None]]) -> None:
        self._refreshers = refreshers

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> list[Any]:
        for refresh in self._refreshers:
            refresh()
        return []
