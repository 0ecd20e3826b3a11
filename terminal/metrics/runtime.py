"""Metrics for a running unit: what ``scanpay run`` wires up when ``[metrics] enabled``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from terminal.config.schema import Config
from terminal.metrics.logs import ErrorCountingHandler
from terminal.metrics.outbox import OutboxCollector
from terminal.metrics.server import MetricsServer
from terminal.metrics.unit import UnitMetrics

log = logging.getLogger(__name__)

# Bike-lock notices that end a payment attempt begun by "code_seen", with their outcome label.
_BIKE_OUTCOMES = {"unlocked": "unlocked", "declined": "declined", "rejected": "rejected",
                  "failed": "failed", "abandoned": "abandoned"}


@contextmanager
def serve_unit_metrics(config: Config, state_dir: Path, *,
                       say: Callable[[str], None] = lambda line: None
                       ) -> Iterator[UnitMetrics | None]:
    """Count and serve this unit's metrics while the block runs; None when disabled."""
    section = config.metrics
    if not section.enabled:
        yield None
        return
    metrics = UnitMetrics(terminal_id=config.terminal.id, role=config.terminal.role)
    outbox = OutboxCollector(state_dir / "outbox.sqlite3", metrics)
    metrics.add_collector(outbox, refresh=outbox.catch_up)
    handler = ErrorCountingHandler(metrics)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with MetricsServer(metrics, host=section.host, port=section.port) as server:
            say(f"metrics at {server.url}")
            yield metrics
    finally:
        root.removeHandler(handler)


class BikeNoticeMeter:
    """Turns a bike-lock unit's notices into payment latencies (code seen to the outcome)."""

    def __init__(self, metrics: UnitMetrics, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._metrics = metrics
        self._clock = clock
        self._seen_at: float | None = None

    def __call__(self, notice: Any) -> None:
        """Feed one notice (anything with ``state.value``)."""
        state = str(getattr(notice.state, "value", notice.state))
        if state == "code_seen":
            self._seen_at = self._clock()
            return
        outcome = _BIKE_OUTCOMES.get(state)
        if outcome is None or self._seen_at is None:
            return
        self._metrics.payment(self._clock() - self._seen_at, outcome)
        self._seen_at = None
        if outcome == "failed":
            self._metrics.error("bikelock.rental", "error")
