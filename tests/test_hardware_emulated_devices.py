"""EmulatedLock and EmulatedIndicator behave like the real devices and record what happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware.emulated import EmulatedIndicator, EmulatedLock, ManualClock
from hardware.errors import IndicatorError, LockError, LockJammedError
from hardware.ports import Beep, IndicatorState


def test_lock_starts_closed_and_unlock_opens_it_firing_on_opened() -> None:
    clock = ManualClock(10.0)
    lock = EmulatedLock(clock)
    opened: list[bool] = []
    lock.on_opened(lambda: opened.append(lock.is_closed))
    assert lock.is_closed
    lock.unlock()
    assert not lock.is_closed
    assert opened == [False]  # the callback already sees the new state
    assert lock.history == [(10.0, "unlock"), (10.0, "opened")]


def test_rider_closing_the_latch_fires_on_closed_once() -> None:
    clock = ManualClock()
    lock = EmulatedLock(clock)
    closed: list[str] = []
    lock.on_closed(lambda: closed.append("closed"))
    lock.unlock()
    clock.advance(42.0)
    lock.close_latch()
    lock.close_latch()  # already closed: nothing happens
    assert lock.is_closed
    assert closed == ["closed"]
    assert lock.history[-1] == (42.0, "closed")
    assert lock.events() == ["unlock", "opened", "closed"]


def test_unlocking_an_open_latch_is_recorded_but_changes_nothing() -> None:
    lock = EmulatedLock()
    opened: list[int] = []
    lock.on_opened(lambda: opened.append(1))
    lock.unlock()
    lock.unlock()
    assert opened == [1]
    assert lock.events() == ["unlock", "opened", "unlock"]


def test_jammed_lock_refuses_the_next_unlock_and_stays_closed() -> None:
    lock = EmulatedLock()
    opened: list[int] = []
    lock.on_opened(lambda: opened.append(1))
    lock.jam()
    with pytest.raises(LockJammedError, match="jammed"):
        lock.unlock()
    assert lock.is_closed and opened == []
    lock.unlock()  # the jam was for one attempt only
    assert not lock.is_closed and opened == [1]
    assert lock.events() == ["unlock", "jammed", "unlock", "opened"]


def test_jam_count_covers_several_attempts() -> None:
    lock = EmulatedLock()
    lock.jam(2)
    for _ in range(2):
        with pytest.raises(LockError):
            lock.unlock()
    lock.unlock()
    assert not lock.is_closed


def test_unsubscribed_callbacks_are_not_called_and_failing_ones_do_not_stop_others() -> None:
    lock = EmulatedLock()
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("callback bug")

    unsubscribe = lock.on_opened(lambda: calls.append("removed"))
    lock.on_opened(broken)
    lock.on_opened(lambda: calls.append("kept"))
    unsubscribe()
    unsubscribe()
    lock.unlock()
    assert calls == ["kept"]


def test_closed_down_lock_refuses_unlock_and_close_is_idempotent() -> None:
    with EmulatedLock() as lock:
        pass
    lock.close()
    with pytest.raises(LockError, match="closed down"):
        lock.unlock()


def test_lock_can_start_open() -> None:
    assert not EmulatedLock(closed=False).is_closed


def test_indicator_records_states_and_beeps_in_order() -> None:
    clock = ManualClock(1.0)
    indicator = EmulatedIndicator(clock)
    assert indicator.state is IndicatorState.IDLE
    indicator.show("busy")
    clock.advance(1.0)
    indicator.beep(Beep.OK)
    indicator.show(IndicatorState.OK)
    assert indicator.state is IndicatorState.OK
    assert indicator.history == [
        (1.0, IndicatorState.BUSY),
        (2.0, Beep.OK),
        (2.0, IndicatorState.OK),
    ]
    assert indicator.states == [IndicatorState.BUSY, IndicatorState.OK]
    assert indicator.beeps == [Beep.OK]


def test_indicator_rejects_unknown_names_and_use_after_close() -> None:
    indicator = EmulatedIndicator()
    with pytest.raises(IndicatorError, match="unknown indicator state"):
        indicator.show("disco")
    assert indicator.history == []
    indicator.close()
    indicator.close()
    with pytest.raises(IndicatorError, match="closed"):
        indicator.beep("ok")


def test_lock_battery_is_unknown_by_default_and_settable_within_0_to_100() -> None:
    lock = EmulatedLock()
    assert lock.battery is None
    lock.set_battery(42)
    assert lock.battery == 42.0
    lock.set_battery(None)
    assert lock.battery is None
    for bad in (-1, 100.5, float("nan"), True):
        with pytest.raises(ValueError, match="battery must be a percentage"):
            lock.set_battery(bad)  # type: ignore[arg-type]


def test_sysfs_battery_reads_the_capacity_file_and_is_unknown_when_it_cannot(
        tmp_path: Path) -> None:
    from hardware.battery import SysfsBattery

    clock = ManualClock(0.0)
    capacity = tmp_path / "capacity"
    capacity.write_text("37\n", encoding="ascii")
    gauge = SysfsBattery(capacity, max_age_s=10.0, clock=clock)
    assert gauge() == 37.0
    capacity.write_text("unknown\n", encoding="ascii")
    assert gauge() == 37.0  # read again only once the reading is 10 s old
    clock.advance(10.0)
    assert gauge() is None
    capacity.unlink()
    clock.advance(10.0)
    assert gauge() is None
