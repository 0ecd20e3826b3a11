"""The bike-lock unit survives lost answers, 409s and crashes at the worst moments.

Real parts throughout: the reference back end on loopback (behind a proxy that loses answers
where a test needs it), real SQLite journal and outbox, the emulated lock. A crash is a
``PowerCut`` raised at the chosen instant; the unit is then rebuilt from its state directory
as a rebooted unit would be.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hardware.emulated.clock import ManualClock
from hardware.emulated.lock import EmulatedLock
from payments.clients.gateway import new_idempotency_key
from payments.events import Event
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.states import RideState
from terminal.bikelock.unit import Notice
from terminal.config import default_config_path, load_config
from terminal.emulator.session import Emulator
from terminal.endpoints import Endpoints
from tests.fault_proxy import FaultProxy

BASE = load_config(default_config_path("emulator"))
_riders = itertools.count(1)


class PowerCut(BaseException):
    """The unit loses power here (nothing after this line runs)."""


class CrashingLock(EmulatedLock):
    """A lock whose next unlock loses power just before or just after the latch opens."""

    def __init__(self, crash: str | None = None) -> None:
        super().__init__()
        self.crash = crash

    def unlock(self) -> None:
        if self.crash == "before":
            raise PowerCut("power lost before the latch moved")
        super().unlock()
        if self.crash == "after":
            raise PowerCut("power lost with the latch open, before the journal write")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(BASE, state_dir=tmp_path_factory.mktemp("backend")) as emu:
        yield emu


@pytest.fixture
def proxy(emulator: Emulator) -> Iterator[FaultProxy]:
    with FaultProxy(emulator.server.url) as p:
        yield p


def new_rider(emulator: Emulator, balance_minor: int = 100_000) -> str:
    """A fresh subject with the base score (600: a 199.00 CNY deposit) and a funded wallet."""
    subject = f"rider-rec-{next(_riders)}-{int(time.time() * 1000) % 10**6}"
    response = requests.post(f"{emulator.server.url}/v1/dev/subjects", timeout=5,
                             headers={"Authorization": f"Bearer {emulator.api_key}"},
                             json={"subject_id": subject, "balance_minor": balance_minor})
    assert response.status_code == 201, response.text
    return subject


def available_minor(emulator: Emulator, subject: str) -> int:
    for row in emulator.subjects():
        if row["subject_id"] == subject:
            return int(row["available"]["amount_minor"])
    raise AssertionError(subject)


class Unit:
    """One unit on a state directory; ``reboot()`` builds a fresh one there, as after a crash."""

    def __init__(self, emulator: Emulator, state_dir: Path, *, endpoints: Endpoints | None = None,
                 lock: EmulatedLock | None = None, clock: ManualClock | None = None) -> None:
        self.emulator, self.state_dir = emulator, state_dir
        self.endpoints = endpoints or emulator.endpoints()
        self.clock = clock or ManualClock(time.time())
        self.lock = lock or CrashingLock()
        self.notices: list[Notice] = []
        self.stack = BikeLockStack(BASE, self.endpoints, state_dir=state_dir, clock=self.clock,
                                   lock=self.lock, on_notice=self.notices.append)
        self.unit = self.stack.unit

    def reboot(self, *, lock: EmulatedLock | None = None, after_s: float = 0.0) -> Unit:
        self.stack.close()
        clock = ManualClock(self.clock() + after_s)
        return Unit(self.emulator, self.state_dir, endpoints=self.endpoints,
                    lock=lock or CrashingLock(), clock=clock)

    def events(self) -> list[Event]:
        return [p.event for p in self.stack.outbox.pending(500)]

    def event_types(self) -> list[str]:
        return [e.type for e in self.events()]

    def close(self) -> None:
        self.stack.close()


def lossy_endpoints(emulator: Emulator, proxy: FaultProxy) -> Endpoints:
    base = emulator.endpoints()
    gateway = dataclasses.replace(base.gateway, url=proxy.url, connect_timeout_s=0.5,
                                  read_timeout_s=1.0, deadline_s=2.0, max_retries=1,
                                  backoff_base_s=0.01, backoff_max_s=0.02)
    return Endpoints(score=base.score, gateway=gateway)


# -- lost answers are looked up with the same key ----------------------------------------------


def test_a_hold_whose_answer_was_lost_is_found_by_its_key_and_the_ride_goes_on(
    emulator: Emulator, proxy: FaultProxy, tmp_path: Path
) -> None:
    rider = new_rider(emulator)
    before = available_minor(emulator, rider)
    u = Unit(emulator, tmp_path, endpoints=lossy_endpoints(emulator, proxy))
    try:
        proxy.lose_answers("POST", "/v1/holds", count=2)  # both attempts of the first call
        rental = u.unit.present_code(emulator.wallet_code(rider))
        assert u.unit.state is RideState.RIDING, u.notices
        assert len(proxy.lost) == 2 and rental.hold_id is not None
        assert available_minor(emulator, rider) == before - 19900  # one hold, not two
        u.clock.advance(10 * 60)
        u.lock.close_latch()
        assert rental.state is RideState.SETTLED and rental.hold_id is None
        assert available_minor(emulator, rider) == before - 150
    finally:
        u.close()


def test_a_code_whose_resolve_answer_was_lost_is_looked_up_and_not_wasted(
    emulator: Emulator, proxy: FaultProxy, tmp_path: Path
) -> None:
    u = Unit(emulator, tmp_path, endpoints=lossy_endpoints(emulator, proxy))
    try:
        proxy.lose_answers("POST", "/v1/payment-codes/resolve", count=2)
        rental = u.unit.present_code(emulator.wallet_code(new_rider(emulator)))
        assert len(proxy.lost) == 2  # the code was used up at the gateway both times
        assert u.unit.state is RideState.RIDING and rental.subject_id is not None
    finally:
        u.close()


def test_a_hold_committed_after_the_budget_is_released_when_the_rental_ends(
    emulator: Emulator, proxy: FaultProxy, tmp_path: Path
) -> None:
    rider = new_rider(emulator)
    before = available_minor(emulator, rider)
    u = Unit(emulator, tmp_path, endpoints=lossy_endpoints(emulator, proxy))
    try:
        proxy.lose_answers("POST", "/v1/holds")  # every answer, the look-up's too
        rental = u.unit.present_code(emulator.wallet_code(rider))
        assert rental.state is RideState.FAILED and u.unit.state is RideState.IDLE
        assert u.lock.is_closed and u.lock.history == []
        assert available_minor(emulator, rider) == before - 19900  # committed, answer lost
        proxy.heal()
        u.unit.tick()  # too early: the gateway is asked again after reconcile_retry_s
        assert available_minor(emulator, rider) == before - 19900
        u.clock.advance(31)
        u.unit.tick()
        assert available_minor(emulator, rider) == before
        assert u.stack.journal.money_open() == []
        assert u.event_types() == ["deposit.released"]
    finally:
        u.close()


def test_a_hold_left_by_a_rental_ended_offline_is_released_after_a_restart(
    emulator: Emulator, proxy: FaultProxy, tmp_path: Path
) -> None:
    rider = new_rider(emulator)
    before = available_minor(emulator, rider)
    u = Unit(emulator, tmp_path, endpoints=lossy_endpoints(emulator, proxy))
    proxy.lose_answers("POST", "/v1/holds")
    u.unit.present_code(emulator.wallet_code(rider))
    proxy.heal()
    u = u.reboot()
    try:
        u.unit.resume()  # reconciles at once
        assert available_minor(emulator, rider) == before
        assert u.stack.journal.money_open() == []
    finally:
        u.close()


def test_a_409_on_settle_means_already_settled_elsewhere(
    emulator: Emulator, tmp_path: Path
) -> None:
    rider = new_rider(emulator)
    u = Unit(emulator, tmp_path)
    try:
        rental = u.unit.present_code(emulator.wallet_code(rider))
        assert rental.hold_id is not None
        # Someone else releases the hold mid-ride: the unit's own release will get a 409.
        u.stack.gateway.release_hold(rental.hold_id, new_idempotency_key())
        u.clock.advance(5 * 60)
        u.lock.close_latch()
        assert rental.state is RideState.SETTLED and u.unit.state is RideState.IDLE
        assert rental.fare_paid_by == "charge" and rental.hold_id is None
        assert any("already settled elsewhere" in n.text for n in u.notices)
        assert u.unit.settle() is False  # nothing left to settle; no error either
    finally:
        u.close()


# -- crashes ------------------------------------------------------------------------------------


def test_a_unit_restarted_after_a_crash_before_unlock_serves_the_next_rider(
    emulator: Emulator, tmp_path: Path
) -> None:
    rider = new_rider(emulator)
    before = available_minor(emulator, rider)
    u = Unit(emulator, tmp_path, lock=CrashingLock(crash="before"))
    with pytest.raises(PowerCut):
        u.unit.present_code(emulator.wallet_code(rider))
    assert available_minor(emulator, rider) == before - 19900
    u = u.reboot()
    try:
        u.unit.resume()
        assert u.unit.state is RideState.IDLE
        assert u.unit.last is not None and u.unit.last.state is RideState.FAILED
        assert available_minor(emulator, rider) == before  # the hold came back
        assert u.lock.history == []
        nxt = u.unit.present_code(emulator.wallet_code(new_rider(emulator)))
        assert nxt.state is RideState.RIDING
    finally:
        u.close()


def test_a_crash_between_the_latch_opening_and_the_journal_write_becomes_a_ride(
    emulator: Emulator, tmp_path: Path
) -> None:
    rider = new_rider(emulator)
    before = available_minor(emulator, rider)
    u = Unit(emulator, tmp_path, lock=CrashingLock(crash="after"))
    with pytest.raises(PowerCut):
        u.unit.present_code(emulator.wallet_code(rider))
    assert not u.lock.is_closed  # the bike is free to go
    opened = EmulatedLock(closed=False)  # on reboot the latch is still open
    u = u.reboot(lock=opened, after_s=20 * 60)  # back after 20 minutes
    try:
        resumed = u.unit.resume()
        assert len(resumed) == 1
        assert u.unit.state is RideState.RIDING  # a ride, never a free bike
        u.clock.advance(15 * 60)
        opened.close_latch()
        last = u.unit.last
        assert last is not None and last.state is RideState.SETTLED
        # Timed from the journalled unlock, 35 minutes: two started half hours.
        assert last.fare_paid_by == "charge" and last.fare_minor == 300
        assert available_minor(emulator, rider) == before - 300
        assert u.event_types().count("ride.started") == 1
    finally:
        u.close()


@pytest.mark.parametrize("kind", ["ride.ended", "payment.captured", "deposit.released"])
def test_an_event_re_emitted_after_a_crash_is_stored_once(
    emulator: Emulator, tmp_path: Path, kind: str
) -> None:
    rider = new_rider(emulator)
    u = Unit(emulator, tmp_path)
    u.unit.present_code(emulator.wallet_code(rider))
    append = u.stack.outbox.append

    def append_then_crash(event: Event) -> bool:
        stored = append(event)
        if event.type == kind:
            raise PowerCut(f"power lost right after appending {kind}")
        return stored

    u.stack.outbox.append = append_then_crash  # type: ignore[method-assign]
    u.clock.advance(10 * 60)
    with pytest.raises(PowerCut):
        u.unit.latch_closed()  # as the latch callback would, on the lock's closing
    u = u.reboot(after_s=3600)
    try:
        u.unit.resume()
        last = u.unit.last
        assert last is not None and last.state is RideState.SETTLED, u.notices
        types = u.event_types()
        assert types == ["deposit.held", "ride.started", "ride.ended", "payment.captured",
                         "deposit.released"]
        assert len({e.id for e in u.events()}) == len(types)
        # The back end, idempotent by event id, stores each once as well.
        report = u.stack.uploader.flush(deadline_s=10)
        assert report.pending == 0
    finally:
        u.close()


def test_the_end_of_a_ride_journalled_before_a_crash_is_the_one_charged(
    emulator: Emulator, tmp_path: Path
) -> None:
    rider = new_rider(emulator)
    u = Unit(emulator, tmp_path)
    rental = u.unit.present_code(emulator.wallet_code(rider))
    append = u.stack.outbox.append

    def crash_on_ride_ended(event: Event) -> bool:
        append(event)
        if event.type == "ride.ended":
            raise PowerCut("power lost as the ride ended")
        return True

    u.stack.outbox.append = crash_on_ride_ended  # type: ignore[method-assign]
    u.clock.advance(10 * 60)
    with pytest.raises(PowerCut):
        u.unit.latch_closed()
    u = u.reboot(after_s=5 * 3600)  # the unit stays off for five hours
    try:
        u.unit.resume()
        last = u.unit.last
        assert last is not None and last.ride_id == rental.ride_id
        assert last.fare_minor == 150  # ten minutes, not five hours
    finally:
        u.close()
