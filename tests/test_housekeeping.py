"""Delivered events leave the outbox after a week; pending ones stay; purging is paced."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hardware.emulated import ManualClock
from payments.events import make_event
from payments.outbox import Outbox
from terminal.housekeeping import KEEP_SETTLED_S, OutboxPurger

DAY = 86400.0


def _event(n: int) -> object:
    return make_event("ride.ended", terminal_id="bike-0001", subject_id="sub_1",
                      attributes={"ride_id": f"ride_{n}"},
                      clock=lambda: datetime(2026, 11, 26, tzinfo=UTC))


def test_settled_events_older_than_a_week_are_deleted_and_pending_ones_kept(tmp_path: Path
                                                                             ) -> None:
    wall = ManualClock(1_000_000.0)
    monotonic = ManualClock()
    with Outbox(tmp_path / "outbox.sqlite3", clock=wall) as outbox:
        old, recent, waiting = _event(1), _event(2), _event(3)
        for event in (old, recent, waiting):
            outbox.append(event)  # type: ignore[arg-type]
        outbox.mark_delivered([old.id])  # type: ignore[attr-defined]
        wall.advance(2 * DAY)
        outbox.mark_delivered([recent.id])  # type: ignore[attr-defined]
        wall.advance(KEEP_SETTLED_S - DAY)  # old: settled 8 days ago, recent: 6 days ago
        purge = OutboxPurger(outbox, wall_clock=wall, monotonic=monotonic)
        assert purge() == 1
        counts = outbox.counts()
        assert (counts.pending, counts.delivered) == (1, 1)


def test_purging_runs_at_most_once_an_interval(tmp_path: Path) -> None:
    wall = ManualClock(1_000_000.0)
    monotonic = ManualClock()
    with Outbox(tmp_path / "outbox.sqlite3", clock=wall) as outbox:
        purge = OutboxPurger(outbox, every_s=3600.0, wall_clock=wall, monotonic=monotonic)
        assert purge() == 0
        event = _event(1)
        outbox.append(event)  # type: ignore[arg-type]
        outbox.mark_delivered([event.id])  # type: ignore[attr-defined]
        wall.advance(KEEP_SETTLED_S + DAY)
        monotonic.advance(3599.0)
        assert purge() == 0  # not due yet
        monotonic.advance(1.0)
        assert purge() == 1
