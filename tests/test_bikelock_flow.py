"""The bike-lock flow end to end against the real reference back end over loopback HTTP."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hardware.emulated.clock import ManualClock
from hardware.emulated.lock import EmulatedLock
from payments.clients.http import ServiceSettings
from payments.money import Money
from payments.policy import DepositRules
from terminal.bikelock.rental import Rental
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.states import RideState
from terminal.bikelock.unit import Notice
from terminal.config import default_config_path, load_config
from terminal.config.schema import Config
from terminal.emulator.session import Emulator
from terminal.endpoints import Endpoints
from tests.clients_loopback import SilentServer

BASE = load_config(default_config_path("emulator"))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(BASE, state_dir=tmp_path_factory.mktemp("backend")) as emu:
        yield emu


class Rig:
    """One unit wired to the emulator, with a controllable clock and lock."""

    def __init__(self, emulator: Emulator, tmp: Path, *, config: Config = BASE,
                 endpoints: Endpoints | None = None) -> None:
        self.emulator = emulator
        self.clock = ManualClock(time.time())
        self.lock = EmulatedLock()
        self.notices: list[Notice] = []
        self.stack = BikeLockStack(config, endpoints or emulator.endpoints(), state_dir=tmp,
                                   clock=self.clock, lock=self.lock,
                                   on_notice=self.notices.append)
        self.unit = self.stack.unit

    def code(self, subject: str, ttl_s: int = 60) -> str:
        return self.emulator.wallet_code(subject, ttl_s=ttl_s)

    def ride(self, subject: str, minutes: float) -> Rental:
        rental = self.unit.present_code(self.code(subject))
        assert self.unit.state is RideState.RIDING, self.notices
        self.clock.advance(minutes * 60)
        self.lock.close_latch()
        assert self.unit.last is rental
        return rental

    def event_types(self) -> list[str]:
        return [p.event.type for p in self.stack.outbox.pending(500)]

    def close(self) -> None:
        self.stack.close()


@pytest.fixture
def rig(emulator: Emulator, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(emulator, tmp_path)
    yield r
    r.close()


def wallet(emulator: Emulator, subject: str) -> dict[str, object]:
    for row in emulator.subjects():
        if row["subject_id"] == subject:
            return row
    raise AssertionError(subject)


def test_score_above_threshold_rides_without_deposit(rig: Rig) -> None:
    rental = rig.ride("rider-good", minutes=47)
    assert rental.state is RideState.SETTLED
    assert rental.outcome == "waived" and rental.hold_id is None
    assert rental.summary is not None and rental.summary["code"] == "score_above_threshold"
    assert [r["code"] for r in rental.reasons] == ["on_time_returns"]
    assert rental.fare_minor == 300 and rental.fare_paid_by == "charge"
    assert rig.event_types() == ["deposit.waived", "ride.started", "ride.ended",
                                 "payment.captured"]
    assert [e for _, e in rig.lock.history] == ["unlock", "opened", "closed"]


def test_score_below_threshold_holds_the_deposit_then_releases_it(rig: Rig) -> None:
    rental = rig.ride("rider-low", minutes=10)
    assert rental.outcome == "required" and rental.deposit_minor == 19900
    assert rental.summary is not None and rental.summary["code"] == "score_below_threshold"
    assert rental.state is RideState.SETTLED and rental.fare_minor == 150
    assert rig.event_types() == ["deposit.held", "ride.started", "ride.ended",
                                 "payment.captured", "deposit.released"]
    assert rental.hold_id is None  # released


def test_blacklisted_rider_is_declined_and_the_lock_stays_shut(rig: Rig) -> None:
    rental = rig.unit.present_code(rig.code("rider-blacklisted"))
    assert rental.state is RideState.DECLINED
    assert [r["code"] for r in rental.reasons] == ["court_blacklist"]
    assert "contest" in rental.reasons[0]["text"]
    assert rig.lock.history == [] and rig.lock.is_closed
    assert rig.event_types() == ["deposit.declined"]  # its reasons reach the event log
    declined = rig.stack.outbox.pending(1)[0].event
    assert dict(declined.attributes) == {"ride_id": rental.ride_id,
                                         "reason_codes": "court_blacklist"}
    assert rig.unit.state is RideState.IDLE


def test_unreachable_score_service_applies_the_offline_rule_without_hanging(
    emulator: Emulator, tmp_path: Path
) -> None:
    with SilentServer() as silent:
        fast = ServiceSettings(url=silent.url, api_key=emulator.api_key, connect_timeout_s=0.2,
                               read_timeout_s=0.3, max_retries=1, backoff_base_s=0.01,
                               deadline_s=1.0)
        endpoints = Endpoints(score=fast, gateway=emulator.endpoints().gateway)
        for rule, state, held in [("require_deposit", RideState.RIDING, True),
                                  ("decline", RideState.DECLINED, False)]:
            config = dataclasses.replace(BASE, deposit=DepositRules(offline_rule=rule))
            r = Rig(emulator, tmp_path / rule, config=config, endpoints=endpoints)
            try:
                done: list[Rental] = []
                worker = threading.Thread(
                    target=lambda r=r, done=done: done.append(
                        r.unit.present_code(r.code("rider-good"))))
                worker.start()
                worker.join(timeout=30)  # the configured budget is 1 s; 30 s means it hung
                assert not worker.is_alive(), "the flow hung on an unreachable score service"
                rental = done[0]
                assert rental.score_offline and rental.score is None
                assert rental.reasons[0]["code"] == "score_service_offline"
                assert (rental.hold_id is not None) is held
                end = rental.state if rental.state is not RideState.RIDING else r.unit.state
                assert end is state
            finally:
                r.close()


def test_gateway_declines_the_deposit_hold_and_nothing_unlocks(
    emulator: Emulator, rig: Rig
) -> None:
    # A new payer has the base score (600, below 650) and an empty wallet.
    response = requests.post(f"{emulator.server.url}/v1/dev/subjects", timeout=5,
                             headers={"Authorization": f"Bearer {emulator.api_key}"},
                             json={"subject_id": "rider-new-empty", "balance_minor": 0})
    assert response.status_code == 201
    rental = rig.unit.present_code(rig.code("rider-new-empty"))
    assert rental.state is RideState.DECLINED
    assert rental.reasons[-1]["code"] == "deposit_declined"
    assert rig.lock.history == []
    assert rig.event_types() == ["payment.declined"]


def test_gateway_declines_the_fare_which_is_recorded_as_owed(rig: Rig) -> None:
    rental = rig.ride("rider-broke", minutes=5)
    assert rental.state is RideState.SETTLED and rental.fare_paid_by == "unpaid"
    assert rig.event_types()[-1] == "payment.declined"


def test_expired_code_is_rejected_locally_and_logged(rig: Rig) -> None:
    code = rig.code("rider-good", ttl_s=30)
    rig.clock.advance(120)
    rental = rig.unit.present_code(code)
    assert rental.state is RideState.REJECTED
    assert rental.reasons[0]["code"] == "code_expired"
    assert "refresh" in rental.reasons[0]["text"]
    assert rig.event_types() == ["code.rejected"]
    assert rig.lock.history == []


@pytest.mark.parametrize("garbage", ["", "hello", "SP1.abc.def", "SP1." + "A" * 500,
                                     b"\xff\xfe\x00binary", "00020101021229300012D156000000"])
def test_malformed_code_is_rejected_with_a_clear_reason(rig: Rig, garbage: str | bytes) -> None:
    rental = rig.unit.present_code(garbage)
    assert rental.state is RideState.REJECTED
    assert rental.reasons[0]["code"] == "code_malformed"
    assert rig.event_types() == ["code.rejected"]


def test_replayed_code_is_rejected_before_any_network_call(rig: Rig) -> None:
    code = rig.code("rider-good")
    first = rig.unit.present_code(code)
    rig.clock.advance(20)
    rig.lock.close_latch()
    assert first.state is RideState.SETTLED
    second = rig.unit.present_code(code)  # still within its 60 s life
    assert second.state is RideState.REJECTED
    assert second.reasons[0]["code"] == "code_already_used"
    assert rig.event_types()[-1] == "code.rejected"


def test_the_gateway_rejects_a_code_replayed_on_another_unit(
    emulator: Emulator, tmp_path: Path
) -> None:
    a, b = Rig(emulator, tmp_path / "a"), Rig(emulator, tmp_path / "b")
    try:
        code = a.code("rider-good")
        assert a.unit.present_code(code).state is RideState.RIDING
        replay = b.unit.present_code(code)  # b's local memory has never seen it
        assert replay.state is RideState.REJECTED
        assert replay.reasons[0]["code"] == "code_already_used"
    finally:
        a.close()
        b.close()


def test_events_reach_the_score_service_once_even_when_uploaded_twice(rig: Rig) -> None:
    rig.ride("rider-good", minutes=3)
    pending = [p.event for p in rig.stack.outbox.pending(100)]
    first = rig.stack.score.upload_events(pending)
    again = rig.stack.score.upload_events(pending)
    assert (first.accepted, first.duplicates) == (len(pending), 0)
    assert (again.accepted, again.duplicates) == (0, len(pending))
    report = rig.stack.uploader.flush(deadline_s=10)
    assert report.pending == 0 and rig.stack.outbox.counts().delivered == len(pending)


def test_a_jammed_lock_releases_the_deposit_and_logs_unlock_failed(rig: Rig) -> None:
    rig.lock.jam()
    rental = rig.unit.present_code(rig.code("rider-low"))
    assert rental.state is RideState.FAILED
    assert rental.hold_id is None
    assert rig.event_types() == ["deposit.held", "unlock.failed", "deposit.released"]


def test_a_unit_restarted_mid_ride_settles_once_with_the_same_keys(
    emulator: Emulator, tmp_path: Path
) -> None:
    first = Rig(emulator, tmp_path)
    rental = first.unit.present_code(first.code("rider-low"))
    assert first.unit.state is RideState.RIDING
    first.close()  # power lost while riding; the lock is closed while the unit is off
    lock = EmulatedLock()
    clock = ManualClock(first.clock() + 25 * 60)
    stack = BikeLockStack(BASE, emulator.endpoints(), state_dir=tmp_path, clock=clock, lock=lock)
    try:
        resumed = stack.unit.resume()
        assert [r.ride_id for r in resumed] == [rental.ride_id]
        done = stack.unit.last
        assert done is not None and done.state is RideState.SETTLED
        assert done.fare_minor == 150 and done.hold_id is None
        assert stack.unit.resume() == []  # nothing left to finish
    finally:
        stack.close()


def test_fare_is_integer_money(rig: Rig) -> None:
    rental = rig.ride("rider-good", minutes=31)
    assert Money(rental.fare_minor or 0, "CNY") == Money(300, "CNY")


def test_uploaded_ride_events_move_the_riders_score_explainably(
    emulator: Emulator, rig: Rig
) -> None:
    response = requests.post(f"{emulator.server.url}/v1/dev/subjects", timeout=5,
                             headers={"Authorization": f"Bearer {emulator.api_key}"},
                             json={"subject_id": "rider-scored", "balance_minor": 100_000})
    assert response.status_code == 201
    before = rig.stack.score.get_score("rider-scored")
    rig.ride("rider-scored", minutes=20)
    rig.clock.set(time.time())  # the wallet issues codes on the real clock
    rig.ride("rider-scored", minutes=25 * 60)  # kept over a day: a late return
    assert rig.stack.uploader.flush(deadline_s=10).pending == 0
    after = rig.stack.score.get_score("rider-scored")
    factors = {f.code: f.points for f in after.factors}
    assert factors == {"on_time_returns": 5, "late_returns": -5}
    assert after.score == before.score


def test_a_code_shown_during_a_ride_is_ignored_and_not_consumed(
    emulator: Emulator, rig: Rig, tmp_path: Path
) -> None:
    riding = rig.unit.present_code(rig.code("rider-good"))
    other = rig.code("rider-low")
    assert rig.unit.present_code(other) is riding
    assert rig.unit.state is RideState.RIDING
    elsewhere = Rig(emulator, tmp_path / "elsewhere")
    try:  # the ignored code was never resolved, so it still works on another unit
        assert elsewhere.unit.present_code(other).state is RideState.RIDING
    finally:
        elsewhere.close()


@pytest.mark.parametrize("subject", ["rider-5551234", "8f1c2e77-1234567-4b2d-9b5d-ab8dfbbd4bed"])
def test_a_rider_id_with_a_long_digit_run_rides_and_settles(
    emulator: Emulator, rig: Rig, subject: str
) -> None:
    response = requests.post(f"{emulator.server.url}/v1/dev/subjects", timeout=5,
                             headers={"Authorization": f"Bearer {emulator.api_key}"},
                             json={"subject_id": subject, "balance_minor": 100_000})
    assert response.status_code == 201
    rental = rig.ride(subject, minutes=12)  # base score 600: a deposit is held, then released
    assert rental.state is RideState.SETTLED and rental.hold_id is None
    assert rig.event_types() == ["deposit.held", "ride.started", "ride.ended",
                                 "payment.captured", "deposit.released"]
