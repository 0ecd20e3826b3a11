"""The bike rental machine: every state reachable, illegal events raise."""

from __future__ import annotations

import pytest

from terminal.bikelock.states import END_STATES, TRANSITIONS, RideEvent, RideState
from terminal.errors import FlowError
from terminal.statemachine import StateMachine, reachable


def machine() -> StateMachine[RideState, RideEvent]:
    return StateMachine(TRANSITIONS, RideState.IDLE, clock=iter(range(1000)).__next__)


def test_every_state_is_reachable_and_every_end_returns_to_idle() -> None:
    assert reachable(TRANSITIONS, RideState.IDLE) == set(RideState)
    for end in END_STATES:
        assert TRANSITIONS[(end, RideEvent.RESET)] is RideState.IDLE


def test_happy_path_with_deposit() -> None:
    m = machine()
    for event in [
        RideEvent.CODE_SCANNED, RideEvent.CODE_ACCEPTED, RideEvent.SCORE_RECEIVED,
        RideEvent.DEPOSIT_REQUIRED, RideEvent.HOLD_PLACED, RideEvent.UNLOCK_REQUESTED,
        RideEvent.UNLOCKED, RideEvent.BIKE_TAKEN, RideEvent.LOCK_CLOSED, RideEvent.SETTLED,
    ]:
        m.fire(event)
    assert m.state is RideState.SETTLED
    assert [t.at for t in m.history] == list(range(10))


def test_illegal_event_raises_and_keeps_state() -> None:
    m = machine()
    with pytest.raises(FlowError, match="'unlocked' is not allowed in state 'idle'"):
        m.fire(RideEvent.UNLOCKED)
    assert m.state is RideState.IDLE


def test_a_bike_in_use_cannot_be_abandoned_by_an_error() -> None:
    m = machine()
    m.restore(RideState.RIDING)
    assert not m.can(RideEvent.ERROR)
