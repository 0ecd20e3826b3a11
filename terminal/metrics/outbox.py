"""The outbox seen from the metrics: backlog and its age at each scrape, events as they land.

The outbox's SQLite file is read read-only at scrape time, so the units need no hooks: the
backlog (pending events, oldest one's age) is always current, and events written since the
last scrape are counted by type (liveness outcomes come from the face events).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from terminal.metrics.unit import UnitMetrics

# Face events that say how a liveness check ended.
LIVENESS_EVENTS = {"face.verified": "passed", "face.rejected": "passed",
                   "liveness.failed": "failed"}


class OutboxCollector:
    """A Prometheus collector over ``path`` (an outbox database), counting into ``metrics``."""

    def __init__(self, path: Path, metrics: UnitMetrics, *,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._path = Path(path)
        self._metrics = metrics
        self._wall = wall_clock
        self._lock = threading.Lock()
        # Events written before this process started are not counted.
        self._last_seq: int | None = None if self._path.is_file() else 0
        self.catch_up()

    def _connect(self) -> sqlite3.Connection | None:
        if not self._path.is_file():
            return None
        return sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=2.0)

    def catch_up(self) -> None:
        """Count the events written since the last call (the first call only notes where)."""
        with self._lock:
            try:
                conn = self._connect()
                if conn is None:
                    return
                with closing(conn):
                    if self._last_seq is None:
                        row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()
                        self._last_seq = int(row[0])
                        return
                    rows = conn.execute(
                        "SELECT seq, json_extract(body, '$.type') FROM outbox WHERE seq > ? "
                        "ORDER BY seq", (self._last_seq,)).fetchall()
            except sqlite3.Error:
                self._metrics.error("metrics.outbox", "warning")
                return
            for seq, event_type in rows:
                self._last_seq = int(seq)
                self._metrics.event(str(event_type))
                outcome = LIVENESS_EVENTS.get(str(event_type))
                if outcome is not None:
                    self._metrics.liveness_outcome(outcome)

    def backlog(self) -> tuple[int, float]:
        """(pending events, age in seconds of the oldest one; 0 when none)."""
        try:
            conn = self._connect()
            if conn is None:
                return 0, 0.0
            with closing(conn):
                depth, oldest = conn.execute(
                    "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'"
                ).fetchone()
        except sqlite3.Error:
            return 0, 0.0
        return int(depth), (max(0.0, self._wall() - float(oldest)) if depth else 0.0)

    def describe(self) -> list[Any]:
        """No fixed description (collected on every scrape)."""
        return []

    def collect(self) -> Iterator[Any]:
        """The backlog gauges (register with ``refresh=catch_up`` to count new events)."""
        from prometheus_client.core import GaugeMetricFamily

        depth, age = self.backlog()
        yield GaugeMetricFamily("scanpay_outbox_pending", "Events waiting for upload",
                                value=depth)
        yield GaugeMetricFamily("scanpay_outbox_oldest_age_seconds",
                                "Age of the oldest event waiting for upload", value=age)
