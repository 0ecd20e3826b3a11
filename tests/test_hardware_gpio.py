"""GpioLock and GpioIndicator on gpiozero's MockFactory: real gpiozero devices, mock pins."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from hardware.emulated import ManualClock
from hardware.errors import IndicatorError, LockError, LockJammedError
from hardware.gpio.indicator import GpioIndicator
from hardware.gpio.lock import GpioLock
from hardware.patterns import BEEPS, LIGHTS, Blink
from hardware.ports import Beep, IndicatorState

RELAY, LATCH = 17, 27
GREEN, RED, BUZZER = 5, 6, 13
WAIT_S = 5.0  # generous bound for gpiozero's background threads; never a timing assertion


class RecordingPin(MockPin):
    """A mock pin whose state changes can be waited for."""

    def __init__(self, factory: MockFactory, info: object) -> None:
        self.changed = threading.Condition()
        super().__init__(factory, info)

    def _change_state(self, value: bool) -> bool:
        with self.changed:
            result = super()._change_state(value)
            self.changed.notify_all()
        return result

    def wait_states(self, count: int) -> list[bool]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.states) >= count, WAIT_S)
            return [s.state for s in self.states]

    def wait_blink(self) -> None:
        """Wait until the pin went on and then off again (a steady LED never goes off)."""

        def blinked() -> bool:
            states = [s.state for s in self.states]
            return True in states and False in states[states.index(True) + 1:]

        with self.changed:
            assert self.changed.wait_for(blinked, WAIT_S), [s.state for s in self.states]


class SpringLatchRelayPin(RecordingPin):
    """A relay pin wired to a spring latch: energising it pops the latch switch open."""

    def __init__(
        self, factory: MockFactory, info: object, latch: MockPin, energised: bool = True
    ) -> None:
        super().__init__(factory, info)
        self.latch = latch
        self.energised = energised

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if changed and value == self.energised:
            self.latch.drive_high()  # switch released = latch open
        return changed


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    mock = MockFactory()
    yield mock
    mock.reset()
    mock.close()


def _closed_lock(factory: MockFactory, *, spring: bool = True, **kwargs: object) -> GpioLock:
    latch = factory.pin(LATCH)
    if spring:
        factory.pin(RELAY, pin_class=SpringLatchRelayPin, latch=latch,
                    energised=kwargs.get("active_high", True))
    else:
        factory.pin(RELAY, pin_class=RecordingPin)
    options: dict = {"debounce_s": 0.0, "unlock_pulse_s": 5.0} | kwargs
    lock = GpioLock(RELAY, LATCH, pin_factory=factory, **options)
    latch.drive_low()  # the latch is pushed shut
    if options["debounce_s"]:
        clock = options["clock"]
        clock.advance(1.0)  # type: ignore[union-attr]
        lock.poll()
    assert lock.is_closed
    lock.history.clear()  # start the test's record after set-up
    return lock


def test_switch_level_gives_the_latch_state(factory: MockFactory) -> None:
    with GpioLock(RELAY, LATCH, pin_factory=factory, debounce_s=0.0) as lock:
        assert not lock.is_closed  # pull-up: switch released = latch open
        factory.pin(LATCH).drive_low()
        assert lock.is_closed


def test_unlock_pulses_the_relay_and_returns_once_the_latch_opens(factory: MockFactory) -> None:
    lock = _closed_lock(factory)
    opened: list[bool] = []
    lock.on_opened(lambda: opened.append(lock.is_closed))
    relay = factory.pin(RELAY)
    lock.unlock()
    assert opened == [False]
    assert relay.state is True  # still inside the 5 s pulse
    lock.close()  # closing de-energises the relay at once
    assert [s.state for s in relay.states] == [False, True, False]
    assert [e for _, e in lock.history] == ["unlock", "opened"]


def test_relay_pulse_ends_by_itself(factory: MockFactory) -> None:
    lock = _closed_lock(factory, unlock_pulse_s=0.05)
    lock.unlock()
    assert factory.pin(RELAY).wait_states(3) == [False, True, False]
    lock.close()


def test_active_low_relay_is_driven_low_to_unlock(factory: MockFactory) -> None:
    lock = _closed_lock(factory, active_high=False)
    relay = factory.pin(RELAY)
    assert relay.state is True  # idle = not energised = high
    lock.unlock()
    assert not lock.is_closed and relay.state is False
    lock.close()


def test_latch_that_stays_closed_is_reported_jammed(factory: MockFactory) -> None:
    lock = _closed_lock(factory, spring=False, unlock_pulse_s=0.05)
    with pytest.raises(LockJammedError, match=f"relay on pin {RELAY}"):
        lock.unlock()
    assert lock.is_closed
    assert True in factory.pin(RELAY).wait_states(2)  # the relay was energised
    assert [e for _, e in lock.history] == ["unlock", "jammed"]
    lock.close()


def test_rider_closing_the_latch_fires_on_closed(factory: MockFactory) -> None:
    lock = _closed_lock(factory)
    closed: list[int] = []
    lock.on_closed(lambda: closed.append(1))
    lock.unlock()
    factory.pin(LATCH).drive_low()
    assert closed == [1] and lock.is_closed
    assert [e for _, e in lock.history] == ["unlock", "opened", "closed"]
    lock.close()


def test_bouncing_switch_counts_once_after_it_settles(factory: MockFactory) -> None:
    clock = ManualClock()
    latch = factory.pin(LATCH)
    lock = GpioLock(RELAY, LATCH, pin_factory=factory, debounce_s=0.05, clock=clock)
    closed: list[int] = []
    lock.on_closed(lambda: closed.append(1))
    for _ in range(3):  # contact bounce while the rider pushes the latch shut
        latch.drive_low()
        clock.advance(0.004)
        latch.drive_high()
        clock.advance(0.004)
    latch.drive_low()
    clock.advance(0.01)
    lock.poll()
    assert closed == [] and not lock.is_closed  # not yet stable for 50 ms
    clock.advance(0.1)
    lock.poll()
    assert closed == [1] and lock.is_closed
    lock.close()


def test_glitch_shorter_than_the_debounce_reports_nothing(factory: MockFactory) -> None:
    clock = ManualClock()
    lock = _closed_lock(factory, debounce_s=0.05, clock=clock)
    events: list[str] = []
    lock.on_opened(lambda: events.append("opened"))
    lock.on_closed(lambda: events.append("closed"))
    latch = factory.pin(LATCH)
    latch.drive_high()  # a knock lifts the switch for 10 ms
    clock.advance(0.01)
    latch.drive_low()
    clock.advance(1.0)
    lock.poll()
    assert events == [] and lock.is_closed
    lock.close()


def test_settle_timer_confirms_changes_with_the_real_clock(factory: MockFactory) -> None:
    lock = GpioLock(RELAY, LATCH, pin_factory=factory, debounce_s=0.01)
    closed = threading.Event()
    lock.on_closed(closed.set)
    factory.pin(LATCH).drive_low()
    assert closed.wait(WAIT_S)
    assert lock.is_closed
    lock.close()


def test_close_is_idempotent_and_releases_the_pins(factory: MockFactory) -> None:
    lock = _closed_lock(factory)
    lock.close()
    lock.close()
    with pytest.raises(LockError, match="closed down"):
        lock.unlock()
    GpioLock(RELAY, LATCH, pin_factory=factory).close()  # the pins are free again


def test_bad_wiring_is_a_lock_error_and_leaves_no_pin_reserved(factory: MockFactory) -> None:
    with pytest.raises(LockError, match="cannot set up the lock"):
        GpioLock(RELAY, RELAY, pin_factory=factory)
    with pytest.raises(LockError, match="cannot set up the lock"):
        GpioLock(RELAY, "GPIO99", pin_factory=factory)
    GpioLock(RELAY, LATCH, pin_factory=factory).close()


@pytest.mark.parametrize("kwargs", [{"debounce_s": -1.0}, {"unlock_pulse_s": 0.0}])
def test_bad_timings_are_lock_errors(factory: MockFactory, kwargs: dict) -> None:
    with pytest.raises(LockError):
        GpioLock(RELAY, LATCH, pin_factory=factory, **kwargs)


# -- indicator -----------------------------------------------------------------------------


@pytest.fixture
def indicator(factory: MockFactory) -> Iterator[GpioIndicator]:
    for pin in (GREEN, RED, BUZZER):
        factory.pin(pin, pin_class=RecordingPin)
    device = GpioIndicator(GREEN, RED, BUZZER, pin_factory=factory)
    yield device
    device.close()


def test_steady_states_light_one_led(factory: MockFactory, indicator: GpioIndicator) -> None:
    green, red = factory.pin(GREEN), factory.pin(RED)
    indicator.show(IndicatorState.OK)
    assert (green.state, red.state) == (True, False)
    indicator.show("declined")
    assert (green.state, red.state) == (False, True)
    assert indicator.state is IndicatorState.DECLINED


@pytest.mark.parametrize("state", list(IndicatorState), ids=lambda s: s.value)
def test_every_state_drives_both_leds_as_the_pattern_table_says(
    factory: MockFactory, indicator: GpioIndicator, state: IndicatorState
) -> None:
    indicator.show(IndicatorState.OK if state is not IndicatorState.OK else "declined")
    pattern = LIGHTS[state]
    for pin in (GREEN, RED):
        factory.pin(pin).clear_states()
    indicator.show(state)
    for pin, led in ((GREEN, pattern.green), (RED, pattern.red)):
        mock = factory.pin(pin)
        if isinstance(led, Blink):
            mock.wait_blink()
        else:
            assert mock.state is led, (state, pin)


@pytest.mark.parametrize("kind", list(Beep), ids=lambda b: b.value)
def test_every_beep_pulses_the_buzzer_as_often_as_the_pattern_table_says(
    factory: MockFactory, indicator: GpioIndicator, kind: Beep
) -> None:
    buzzer = factory.pin(BUZZER)
    indicator.beep(kind)
    pulses = BEEPS[kind].count
    states = buzzer.wait_states(1 + 2 * pulses)
    assert states == [False] + [True, False] * pulses


def test_the_patterns_tell_every_moment_apart() -> None:
    shown = {state: (LIGHTS[state].green, LIGHTS[state].red) for state in IndicatorState}
    assert len(set(shown.values())) == len(shown)  # no two states look alike
    assert len({(b.on_s, b.count) for b in BEEPS.values()}) == len(Beep)
    assert set(BEEPS) == set(Beep) and set(LIGHTS) == set(IndicatorState)


def test_indicator_rejects_unknown_states_and_use_after_close(
    factory: MockFactory, indicator: GpioIndicator
) -> None:
    with pytest.raises(IndicatorError, match="unknown indicator state"):
        indicator.show("rainbow")
    indicator.show("ok")
    indicator.close()
    indicator.close()
    assert factory.pin(GREEN).state is False
    with pytest.raises(IndicatorError, match="closed"):
        indicator.beep("ok")
