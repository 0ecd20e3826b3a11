"""The bike unit's light, buzzer, battery and jam alarm, on the emulated devices and on GPIO
(gpiozero's MockFactory), against the reference back end over loopback HTTP."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hardware.emulated.clock import ManualClock
from hardware.emulated.indicator import EmulatedIndicator
from hardware.emulated.lock import EmulatedLock
from hardware.gpio.indicator import GpioIndicator
from hardware.gpio.lock import GpioLock
from hardware.ports import Beep, IndicatorState, Lock
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.states import RideState
from terminal.config import default_config_path, load_config
from terminal.emulator.session import Emulator
from tests.test_hardware_gpio import BUZZER, GREEN, LATCH, RED, RELAY, RecordingPin

BASE = load_config(default_config_path("emulator"))
S = IndicatorState


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(BASE, state_dir=tmp_path_factory.mktemp("backend")) as emu:
        yield emu


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    mock = MockFactory()
    yield mock
    mock.reset()
    mock.close()


def _stack(emulator: Emulator, tmp: Path, lock: Lock, indicator: object,
           low_battery_pct: float = 15.0) -> BikeLockStack:
    config = dataclasses.replace(
        BASE, lock=dataclasses.replace(BASE.lock, low_battery_pct=low_battery_pct))
    return BikeLockStack(config, emulator.endpoints(), state_dir=tmp,
                         clock=ManualClock(time.time()), lock=lock,
                         indicator=indicator)  # type: ignore[arg-type]


def _events(stack: BikeLockStack) -> list[tuple[str, dict[str, object]]]:
    return [(p.event.type, dict(p.event.attributes)) for p in stack.outbox.pending(100)]


def _dedup(states: list[IndicatorState]) -> list[IndicatorState]:
    return [s for i, s in enumerate(states) if i == 0 or states[i - 1] is not s]


# -- patterns driven by the unit's states ------------------------------------------------------


def test_an_approved_ride_reads_then_shows_green_with_one_beep_at_unlock_and_at_the_end(
        emulator: Emulator, tmp_path: Path) -> None:
    lock, light = EmulatedLock(), EmulatedIndicator()
    with _stack(emulator, tmp_path, lock, light) as stack:
        stack.unit.present_code(emulator.wallet_code("rider-good"))
        assert light.state is S.OK and light.beeps == [Beep.OK]  # approved: take the bike
        lock.close_latch()
        # ready, reading the code, approved (riding), charging the fare, paid, ready
        assert _dedup(light.states) == [S.IDLE, S.BUSY, S.OK, S.BUSY, S.OK, S.IDLE]
        assert light.beeps == [Beep.OK, Beep.OK]


def test_a_declined_rider_sees_red_and_hears_two_beeps(emulator: Emulator,
                                                       tmp_path: Path) -> None:
    lock, light = EmulatedLock(), EmulatedIndicator()
    with _stack(emulator, tmp_path, lock, light) as stack:
        stack.unit.present_code(emulator.wallet_code("rider-blacklisted"))
        assert _dedup(light.states) == [S.IDLE, S.BUSY, S.DECLINED, S.IDLE]
        assert light.beeps == [Beep.DECLINED]


def test_the_gpio_indicator_follows_a_declined_ride_on_its_pins(
        emulator: Emulator, tmp_path: Path, factory: MockFactory) -> None:
    for pin in (GREEN, RED, BUZZER):
        factory.pin(pin, pin_class=RecordingPin)
    indicator = GpioIndicator(GREEN, RED, BUZZER, pin_factory=factory)
    red, buzzer = factory.pin(RED), factory.pin(BUZZER)
    with _stack(emulator, tmp_path, EmulatedLock(), indicator) as stack:
        red.clear_states()
        buzzer.clear_states()
        stack.unit.present_code(emulator.wallet_code("rider-blacklisted"))
        assert [s.state for s in red.states] == [False, True, False]  # red steady: declined
        assert buzzer.wait_states(5) == [False, True, False, True, False]  # two beeps
        assert indicator.state is S.IDLE and red.state is False  # ready again


# -- jam: voided, deposit released, alarm raised ----------------------------------------------


def test_a_jammed_emulated_lock_voids_the_rental_and_raises_the_alarm_to_the_back_end(
        emulator: Emulator, tmp_path: Path) -> None:
    lock, light = EmulatedLock(), EmulatedIndicator()
    lock.jam()
    with _stack(emulator, tmp_path, lock, light) as stack:
        rental = stack.unit.present_code(emulator.wallet_code("rider-low"))
        assert rental.state is RideState.FAILED and rental.hold_id is None
        assert rental.reasons[0]["code"] == "lock_jammed"
        events = _events(stack)
        assert [t for t, _ in events] == ["deposit.held", "unlock.failed", "deposit.released"]
        failed = events[1][1]
        assert (failed["reason"], failed["alarm"]) == ("lock_jammed", True)
        assert S.ERROR in light.states and light.beeps == [Beep.ERROR]
        report = stack.score.upload_events([p.event for p in stack.outbox.pending(100)])
        assert report.accepted == 3 and not report.rejected  # the back end stored the alarm


def test_a_gpio_latch_that_never_moves_voids_the_rental_and_raises_the_alarm(
        emulator: Emulator, tmp_path: Path, factory: MockFactory) -> None:
    factory.pin(RELAY, pin_class=RecordingPin)  # energised, but the latch pin never moves
    latch = factory.pin(LATCH)
    lock = GpioLock(RELAY, LATCH, pin_factory=factory, debounce_s=0.0, unlock_pulse_s=0.1)
    latch.drive_low()
    with _stack(emulator, tmp_path, lock, EmulatedIndicator()) as stack:
        rental = stack.unit.present_code(emulator.wallet_code("rider-low"))
        assert rental.state is RideState.FAILED and rental.hold_id is None
        assert any(s.state for s in factory.pin(RELAY).states)  # the relay was energised
        assert [e for _, e in lock.history] == ["closed", "unlock", "jammed"]
        failed = dict(_events(stack))["unlock.failed"]
        assert (failed["reason"], failed["alarm"]) == ("lock_jammed", True)
        assert stack.unit.state is RideState.IDLE  # the next rider is served


# -- battery ----------------------------------------------------------------------------------


def test_a_low_battery_refuses_a_ride_in_plain_words_and_leaves_the_code_usable(
        emulator: Emulator, tmp_path: Path) -> None:
    lock, light = EmulatedLock(battery=12), EmulatedIndicator()
    with _stack(emulator, tmp_path, lock, light, low_battery_pct=15) as stack:
        assert light.state is S.LOW_BATTERY
        code = emulator.wallet_code("rider-good")
        refused = stack.unit.present_code(code)
        assert refused.state is RideState.REJECTED
        assert refused.reasons[0]["code"] == "low_battery"
        assert "battery is low (12%)" in refused.reasons[0]["text"]
        assert lock.history == [] and light.state is S.LOW_BATTERY
        assert [(t, a["reason"]) for t, a in _events(stack)] == [("code.rejected", "low_battery")]
        lock.set_battery(80)  # charged (or another bike): the same code still works
        stack.unit.tick()
        assert light.state is S.IDLE
        assert stack.unit.present_code(code).state is RideState.RIDING


def test_the_idle_light_turns_to_low_battery_as_the_battery_drains(
        emulator: Emulator, tmp_path: Path) -> None:
    lock, light = EmulatedLock(battery=40), EmulatedIndicator()
    with _stack(emulator, tmp_path, lock, light, low_battery_pct=20) as stack:
        stack.unit.tick()
        assert light.state is S.IDLE
        lock.set_battery(19.5)
        stack.unit.tick()
        stack.unit.tick()
        assert light.states == [S.IDLE, S.LOW_BATTERY]  # switched once, not on every tick


def test_a_ride_under_way_still_ends_and_settles_when_the_battery_runs_low(
        emulator: Emulator, tmp_path: Path) -> None:
    lock = EmulatedLock(battery=90)
    with _stack(emulator, tmp_path, lock, EmulatedIndicator()) as stack:
        stack.unit.present_code(emulator.wallet_code("rider-good"))
        lock.set_battery(5)
        lock.close_latch()
        assert stack.unit.last is not None and stack.unit.last.state is RideState.SETTLED


def test_a_lock_without_a_gauge_never_refuses_for_the_battery(
        emulator: Emulator, tmp_path: Path) -> None:
    lock = EmulatedLock()
    assert lock.battery is None
    with _stack(emulator, tmp_path, lock, EmulatedIndicator(), low_battery_pct=100) as stack:
        assert not stack.unit.battery_low
        assert stack.unit.present_code(emulator.wallet_code("rider-good")).state \
            is RideState.RIDING
