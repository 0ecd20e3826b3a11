"""A whole rental on the real GPIO lock driver (gpiozero MockFactory with a spring latch)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hardware.emulated.clock import ManualClock
from hardware.gpio.lock import GpioLock
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.states import RideState
from terminal.bikelock.unit import Notice
from terminal.config import default_config_path, load_config
from terminal.emulator.session import Emulator
from tests.test_hardware_gpio import LATCH, RELAY, SpringLatchRelayPin

CONFIG = load_config(default_config_path("emulator"))


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    mock = MockFactory()
    yield mock
    mock.reset()
    mock.close()


def test_rental_on_the_gpio_lock_unlocks_times_and_settles(
    factory: MockFactory, tmp_path: Path
) -> None:
    latch = factory.pin(LATCH)
    relay = factory.pin(RELAY, pin_class=SpringLatchRelayPin, latch=latch)
    lock = GpioLock(RELAY, LATCH, pin_factory=factory, debounce_s=0.0, unlock_pulse_s=0.2)
    latch.drive_low()  # the latch starts pushed shut
    settled = threading.Event()

    def notice(n: Notice) -> None:
        if n.state is RideState.SETTLED:
            settled.set()

    clock = ManualClock(time.time())
    with Emulator(CONFIG, state_dir=tmp_path) as emulator, BikeLockStack(
        CONFIG, emulator.endpoints(), state_dir=tmp_path / "unit", clock=clock, lock=lock,
        on_notice=notice,
    ) as stack:
        rental = stack.unit.present_code(emulator.wallet_code("rider-good"))
        assert stack.unit.state is RideState.RIDING, rental.reasons
        assert any(s.state for s in relay.states)  # the relay was energised
        clock.advance(35 * 60)
        latch.drive_low()  # the rider pushes the latch shut; the GPIO thread reports it
        assert settled.wait(10), "the ride was not settled after the latch closed"
        done = stack.unit.last
        assert done is not None and done.fare_minor == 300 and done.fare_paid_by == "charge"
        assert [e for _, e in lock.history] == ["closed", "unlock", "opened", "closed"]
