"""The randomised liveness challenge, driven frame by frame with an injected clock."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from vision.errors import VisionError
from vision.face.liveness import ChallengePlan, ChallengeStep, LivenessSession, verdict
from vision.face.synthetic import head_cloud, observe, photo_observe
from vision.face.types import CheckResult, FaceObservation

FPS = 15.0


class Clock:
    """A manual clock: tests move time forward explicitly."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _plan(*actions: str, window: float = 3.0) -> ChallengePlan:
    return ChallengePlan(tuple(ChallengeStep(a, window) for a in actions))  # type: ignore[arg-type]


class RealPerson:
    """A 3-D head that does what the prompt asks, after a short reaction time."""

    def __init__(self) -> None:
        self.head = head_cloud()
        self.rng = np.random.default_rng(5)
        self.since = 0

    def frame(self, t: float, action: str | None) -> FaceObservation:
        self.since = self.since + 1 if action else 0
        k = min(1.0, max(0.0, (self.since - 3) / 4))  # reacts after 3 frames, ~0.3 s ramp
        kwargs: dict[str, float] = {}
        if action == "turn_left":
            kwargs["yaw"] = 25 * k
        elif action == "turn_right":
            kwargs["yaw"] = -25 * k
        elif action == "smile":
            kwargs["smile"] = 0.35 * k
        elif action == "blink":
            kwargs["eye_closure"] = 0.9 if 4 <= self.since <= 6 else 0.0
        return observe(self.head, t, noise=0.2, rng=self.rng, **kwargs)


def _run(session: LivenessSession, clock: Clock, source, max_s: float = 20.0):
    status = None
    last_action: str | None = None
    while clock.now < 100.0 + max_s:
        obs = source(clock.now, last_action)
        status = session.update(obs)
        last_action = status.action
        if status.done:
            return status
        clock.now += 1 / FPS
    return status


@pytest.mark.parametrize("seed", range(6))
def test_a_real_person_answering_a_random_challenge_passes(seed: int) -> None:
    clock = Clock()
    plan = ChallengePlan.random(random.Random(seed))
    person = RealPerson()
    status = _run(LivenessSession(plan, clock=clock), clock,
                  lambda t, a: person.frame(t, a))
    assert status.state == "passed", status.reason
    assert status.evidence.live
    assert set(status.evidence.checks) >= {s.action for s in plan.steps} | {"planar_motion"}
    assert clock.now - 100.0 < 4.0  # the whole challenge is answered in a few seconds


def test_a_still_photo_never_passes_even_when_tilted_to_fake_a_turn() -> None:
    for seed in range(5):
        clock = Clock()
        plan = ChallengePlan.random(random.Random(seed))
        head = head_cloud()
        rng = np.random.default_rng(seed)
        state = {"n": 0}

        def photo(t: float, action: str | None, head=head, rng=rng, state=state):
            state["n"] += 1
            tilt = 30 * np.sin(state["n"] / 5)
            return photo_observe(head, t, tilt_yaw=tilt, tilt_pitch=tilt / 2, noise=0.2, rng=rng)

        status = _run(LivenessSession(plan, clock=clock), clock, photo)
        assert status.state == "failed"
        assert not status.evidence.live


def test_a_flat_replay_that_fakes_every_action_fails_the_planar_check() -> None:
    """A screen whose measures follow the prompts but whose landmarks stay on one plane."""
    clock = Clock()
    plan = _plan("smile", "turn_left")
    head = head_cloud()
    person = RealPerson()
    state = {"n": 0}

    def replay(t: float, action: str | None) -> FaceObservation:
        state["n"] += 1
        real = person.frame(t, action)
        tilt = 25 * np.sin(state["n"] / 4)
        flat = photo_observe(head, t, tilt_yaw=tilt, noise=0.2, rng=person.rng)
        return replace(flat, pose=real.pose, measures=real.measures)

    status = _run(LivenessSession(plan, clock=clock), clock, replay)
    assert status.state == "failed"
    assert not status.evidence.checks["planar_motion"].passed


def test_not_answering_in_the_window_fails_with_the_action_named() -> None:
    clock = Clock()
    head = head_cloud()
    status = _run(LivenessSession(_plan("blink", "turn_right", window=2.0), clock=clock), clock,
                  lambda t, a: observe(head, t))
    assert status.state == "failed"
    assert status.reason == "no blink seen in time"
    assert not status.evidence.checks["blink"].passed


def test_losing_the_face_fails_the_session() -> None:
    clock = Clock()
    session = LivenessSession(_plan("smile", "turn_left"), clock=clock)
    head = head_cloud()
    for _ in range(8):
        session.update(observe(head, clock.now))
        clock.now += 1 / FPS
    for _ in range(20):
        status = session.update(None)
        clock.now += 1 / FPS
    assert status.state == "failed"
    assert "lost" in status.reason


def test_a_second_face_fails_the_session() -> None:
    clock = Clock()
    session = LivenessSession(_plan("smile", "turn_left"), clock=clock)
    status = session.update(observe(head_cloud(), clock.now, faces=2))
    assert status.state == "failed"
    assert "more than one face" in status.reason


def test_expressions_are_judged_against_the_persons_own_baseline() -> None:
    """Someone who already smiles at rest must smile more; a constant grin does not count."""
    clock = Clock()
    head = head_cloud()
    status = _run(LivenessSession(_plan("smile", "turn_left", window=2.0), clock=clock), clock,
                  lambda t, a: observe(head, t, smile=0.35))
    assert status.state == "failed"
    assert status.reason == "no smile seen in time"


def test_extra_checks_are_added_to_the_evidence_and_can_veto() -> None:
    clock = Clock()
    person = RealPerson()
    session = LivenessSession(
        _plan("turn_left", "smile"), clock=clock,
        extra_checks=lambda: {"antispoof_model": CheckResult("antispoof_model", False, 0.1)})
    status = _run(session, clock, lambda t, a: person.frame(t, a))
    assert status.state == "failed"
    assert "antispoof_model" in status.reason
    assert status.evidence.checks["planar_motion"].passed


def test_random_plans_vary_and_are_reproducible_from_the_seed() -> None:
    plans = [ChallengePlan.random(random.Random(s)) for s in range(30)]
    orders = {tuple(st.action for st in p.steps) for p in plans}
    assert len(orders) >= 4
    assert ChallengePlan.random(random.Random(3)) == ChallengePlan.random(random.Random(3))
    for p in plans:
        actions = [st.action for st in p.steps]
        assert any(a.startswith("turn") for a in actions)
        assert any(a in ("smile", "blink") for a in actions)
        assert all(2.5 <= st.window_s <= 4.0 for st in p.steps)


def test_plans_without_a_turn_or_an_expression_are_refused() -> None:
    with pytest.raises(VisionError, match="head turn"):
        _plan("smile", "blink")
    with pytest.raises(VisionError, match="smile or a blink"):
        _plan("turn_left")
    with pytest.raises(VisionError):
        ChallengePlan.random(random.Random(0), choices=("smile", "blink"))
    with pytest.raises(VisionError):
        ChallengePlan.random(random.Random(0), steps=1)


def test_the_prompt_names_the_current_action() -> None:
    clock = Clock()
    session = LivenessSession(_plan("blink", "turn_left"), clock=clock)
    head = head_cloud()
    status = session.update(observe(head, clock.now))
    assert status.state == "baseline"
    for _ in range(8):
        clock.now += 1 / FPS
        status = session.update(observe(head, clock.now))
    assert status.state == "challenge"
    assert status.action == "blink"
    assert status.prompt == "Please blink"


def test_frames_with_a_face_too_small_to_judge_do_not_count() -> None:
    from vision.face.liveness import ActionLimits

    clock = Clock()
    person = RealPerson()
    limits = ActionLimits(min_interocular_px=500.0)  # every synthetic face is "too small"
    status = _run(LivenessSession(_plan("blink", "turn_left", window=2.0), clock=clock,
                                  limits=limits), clock, lambda t, a: person.frame(t, a))
    assert status.state == "failed"
    assert status.step_index == 0


def test_verdict_adds_extra_checks_and_names_every_failed_one_in_order() -> None:
    checks = {"blink": CheckResult("blink", True, 0.4, "closed"),
              "planar_motion": CheckResult("planar_motion", False, 0.01, "flat")}
    state, reason = verdict(checks, lambda: {"screen": CheckResult("screen", False, 1.0, "moire")})
    assert state == "failed"
    assert reason == "planar_motion: flat; screen: moire"
    assert list(checks) == ["blink", "planar_motion", "screen"]
    assert verdict({"blink": checks["blink"]}) == ("passed", "")


def test_prompting_during_the_baseline_shows_the_first_action_at_once() -> None:
    clock = Clock()
    plan = ChallengePlan((ChallengeStep("turn_left", 3.0), ChallengeStep("smile", 3.0)),
                         prompt_during_baseline=True)
    session = LivenessSession(plan, clock=clock)
    head = head_cloud()
    first = session.update(observe(head, clock.now))
    assert first.state == "baseline" and first.action == "turn_left"
    assert first.prompt == "Please turn your head to your left"
    # Turned during the whole baseline: the baseline is the turned head, so the turn is not
    # seen against it (moving early makes the action harder, never easier).
    for _ in range(12):
        clock.now += 1 / FPS
        status = session.update(observe(head, clock.now, yaw=25.0))
    assert status.state == "challenge" and status.step_index == 0
    # The first step's window has been running since the prompt appeared.
    while not status.done:
        clock.now += 1 / FPS
        status = session.update(observe(head, clock.now, yaw=25.0))
    assert status.state == "failed" and "turn left" in status.reason
    assert clock.now - 100.0 == pytest.approx(3.0, abs=2 / FPS)


def test_prompting_during_the_baseline_passes_a_prompt_person_sooner() -> None:
    took = {}
    for overlap in (False, True):
        clock = Clock()
        plan = ChallengePlan((ChallengeStep("turn_left", 3.0), ChallengeStep("smile", 3.0)),
                             prompt_during_baseline=overlap)
        status = _run(LivenessSession(plan, clock=clock), clock, RealPerson().frame)
        assert status.state == "passed", status.reason
        took[overlap] = clock.now - 100.0
    assert took[True] < took[False] - 0.2
