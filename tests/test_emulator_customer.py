"""The emulator's scripted customer answers the kiosk's real randomised challenge in time."""

from __future__ import annotations

import random

import pytest

from hardware.emulated.clock import ManualClock
from terminal.emulator.customer import Responsiveness, ScriptedCustomer
from terminal.errors import TerminalError
from vision.face.liveness import ChallengePlan, LivenessSession

FPS = 15.0


def run(seed: int, responsiveness: Responsiveness) -> tuple[str, float, list[float]]:
    clock = ManualClock(0.0)
    plan = ChallengePlan.random(random.Random(seed), steps=2, window_range_s=(2.5, 3.0))
    session = LivenessSession(plan, clock=clock)
    customer = ScriptedCustomer(responsiveness, random.Random(seed))
    status = session.update(None)
    while not status.done and clock() < 20:
        clock.advance(1 / FPS)
        customer.see(status.action, clock())
        status = session.update(customer.act(clock()))
    return status.state, clock(), customer.reactions


@pytest.mark.parametrize("seed", range(8))
def test_a_prompt_customer_passes_every_plan_within_about_two_seconds(seed: int) -> None:
    state, took, reactions = run(seed, Responsiveness(reaction_s=(0.4, 0.7)))
    assert state == "passed"
    assert len(reactions) == 2 and all(0.4 <= r <= 0.7 for r in reactions)
    # baseline 0.4 s + two reactions + the movements themselves (at 15 fps)
    assert 0.4 + sum(reactions) < took < 0.4 + sum(reactions) + 0.8


def test_a_customer_slower_than_the_window_fails_with_a_plain_reason() -> None:
    state, _, _ = run(0, Responsiveness(reaction_s=(3.5, 3.5)))
    assert state == "failed"


def test_bad_timings_are_refused() -> None:
    with pytest.raises(TerminalError):
        Responsiveness(reaction_s=(0.7, 0.4))
    with pytest.raises(TerminalError):
        Responsiveness(turn_speed_deg_s=0)
