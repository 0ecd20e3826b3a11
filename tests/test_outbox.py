"""Outbox: durable append, ordering, bookkeeping, reopen, threads, close."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from payments.events import Event, make_event
from payments.outbox import Outbox, OutboxCounts, OutboxError


def new_event(n: int = 0) -> Event:
    return make_event("ride.ended", terminal_id="bike-0001", subject_id="sub_1",
                      attributes={"ride_id": f"ride_{n}"},
                      clock=lambda: datetime(2026, 11, 26, tzinfo=UTC))


def test_opens_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    with Outbox(tmp_path / "state" / "outbox.db") as box:
        assert box.path.exists()
    conn = sqlite3.connect(tmp_path / "state" / "outbox.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_append_then_pending_in_order(tmp_path: Path) -> None:
    events = [new_event(i) for i in range(5)]
    with Outbox(tmp_path / "o.db") as box:
        for e in events:
            assert box.append(e)
        assert [p.event for p in box.pending(3)] == events[:3]
        assert [p.event.id for p in box.pending(10)] == [e.id for e in events]
        assert box.pending(0) == []


def test_same_event_twice_is_stored_once(tmp_path: Path) -> None:
    e = new_event()
    with Outbox(tmp_path / "o.db") as box:
        assert box.append(e) is True
        assert box.append(e) is False
        assert box.counts() == OutboxCounts(pending=1, delivered=0, dropped=0)


def test_events_survive_reopen(tmp_path: Path) -> None:
    events = [new_event(i) for i in range(3)]
    box = Outbox(tmp_path / "o.db")
    for e in events:
        box.append(e)
    box.mark_delivered([events[0].id])
    box.record_attempt([events[1].id], "score service timed out")
    box.close()
    with Outbox(tmp_path / "o.db") as again:
        pending = again.pending(10)
        assert [p.event for p in pending] == events[1:]
        assert (pending[0].attempts, pending[0].last_error) == (1, "score service timed out")
        assert again.counts() == OutboxCounts(pending=2, delivered=1, dropped=0)


def test_a_second_connection_sees_committed_appends(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        box.append(new_event())
        conn = sqlite3.connect(tmp_path / "o.db")
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
        conn.close()


def test_mark_delivered_and_dropped_only_touch_pending(tmp_path: Path) -> None:
    a, b, c = new_event(1), new_event(2), new_event(3)
    with Outbox(tmp_path / "o.db") as box:
        for e in (a, b, c):
            box.append(e)
        assert box.mark_delivered([a.id, "evt_" + "0" * 32]) == 1
        assert box.mark_delivered([a.id]) == 0
        assert box.mark_dropped([(b.id, "malformed")]) == 1
        assert box.mark_delivered([b.id]) == 0
        assert box.counts() == OutboxCounts(pending=1, delivered=1, dropped=1)
        assert [p.event for p in box.pending(10)] == [c]


def test_purge_removes_only_settled_rows(tmp_path: Path) -> None:
    now = [1000.0]
    with Outbox(tmp_path / "o.db", clock=lambda: now[0]) as box:
        a, b = new_event(1), new_event(2)
        box.append(a)
        box.append(b)
        box.mark_delivered([a.id])
        now[0] = 2000.0
        assert box.purge(settled_before=1500.0) == 1
        assert box.counts() == OutboxCounts(pending=1, delivered=0, dropped=0)


def test_unreadable_row_is_dropped_not_crashing(tmp_path: Path) -> None:
    good = new_event()
    with Outbox(tmp_path / "o.db") as box:
        box.append(good)
        conn = sqlite3.connect(tmp_path / "o.db")
        conn.execute(
            "INSERT INTO outbox (event_id, body, created_at) VALUES ('evt_bad', '{oops', 0)"
        )
        conn.commit()
        conn.close()
        assert [p.event for p in box.pending(10)] == [good]
        assert box.counts().dropped == 1


def test_concurrent_appends_from_threads_are_all_stored(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        def produce(base: int) -> None:
            for i in range(25):
                box.append(new_event(base + i))

        threads = [threading.Thread(target=produce, args=(k * 100,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert box.counts().pending == 100


def test_close_is_idempotent_and_use_after_close_is_a_clear_error(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.close()
    box.close()
    assert box.closed
    with pytest.raises(OutboxError, match="closed"):
        box.append(new_event())


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OutboxError, match="not a usable database"):
        Outbox(path)


def test_non_events_are_refused(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box, pytest.raises(OutboxError):
        box.append({"id": "evt_x"})  # type: ignore[arg-type]
