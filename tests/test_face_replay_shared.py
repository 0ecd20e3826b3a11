"""Real dev clips through the kiosk's Smile-to-Pay flow: a genuine customer is accepted, the same
person's footage replayed on a screen is not (shared data; skipped when absent)."""

from __future__ import annotations

import random
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.face_shared import FACES

VIDEO = FACES / "video"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not (VIDEO / "head-turn" / "manifest.csv").is_file(),
                       reason="shared face footage (../shared/data/faces/video) not present"),
]


def _blink_then_turn_seed() -> int:
    """A challenge seed whose plan is a blink and a head turn (footage exists for both)."""
    from terminal.config.schema import FaceSection
    from vision.face.liveness import ChallengePlan

    s = FaceSection()
    for seed in range(100):
        plan = ChallengePlan.random(random.Random(seed), steps=s.challenge_steps,
                                    choices=s.challenges)
        if {step.action for step in plan.steps} <= {"blink", "turn_left", "turn_right"}:
            return seed
    raise AssertionError("no seed draws a blink and a turn")


def test_genuine_accepted_and_replays_refused_through_the_kiosk_flow() -> None:
    from payments.clients.face import FaceClient
    from payments.clients.gateway import GatewayClient
    from terminal.bench.face_replay import (
        KioskRig,
        ReplayDirector,
        _renderer,
        _summarise,
        turn_footage,
    )
    from terminal.config import default_config_path, load_config
    from terminal.emulator.customer import ActingSensor, ScriptedCustomer
    from terminal.emulator.session import Emulator

    config = load_config(default_config_path("kiosk"))
    assert config.face is not None
    face = replace(config.face, embed_workers=0)  # no worker process for a test
    # A phone video of a person turning their head, with a natural blink in it.
    footage = turn_footage(VIDEO, only=("asreal-6238f1fa.mp4",))["asreal-6238f1fa.mp4"]
    assert {"blink", "turn_left", "turn_right"} <= set(footage.actions)
    seed = _blink_then_turn_seed()
    with tempfile.TemporaryDirectory() as tmp, Emulator(config, state_dir=Path(tmp)) as em:
        settings = em.endpoints().gateway
        with FaceClient(settings) as faces, GatewayClient(settings) as gateway:
            rig = KioskRig(config, face, faces, gateway, seed=seed)
            try:
                # The person in front of the camera, answering (acted over their own video).
                neutral = footage.neutral[0]
                acting = ActingSensor(rig.sensor, ScriptedCustomer(rng=random.Random(1)))
                status, events = rig.attempt(lambda _a, t: neutral.ping_pong(t),
                                             sensor=acting, show=acting.show)
                genuine = _summarise(status, events)
                # Their footage replayed on a monitor, following the same kind of prompts.
                results = []
                for variant, distance in (("monitor", 0.65), ("phone", 0.22)):
                    director = ReplayDirector(footage, random.Random(2))
                    renderer = _renderer(footage, variant, distance, seed=0)

                    def source(action: str | None, t: float, d: ReplayDirector = director,
                               r: object = renderer) -> np.ndarray:
                        d.see(action, t)
                        image, tilt = d.frame(t)
                        return r.render(image, t, tilt_deg=tilt)  # type: ignore[attr-defined]

                    status, events = rig.attempt(source)
                    results.append((_summarise(status, events), director.played))
            finally:
                rig.close()
    assert genuine["accepted"], genuine
    for summary, played in results:
        assert not summary["accepted"], (summary, played)
    # Replays that answered the whole challenge were stopped by the screen's own cues.
    answered = [s for s, _ in results if "banding" in s["checks"]]
    assert answered, results
    for summary in answered:
        assert {"banding", "screen_moire", "flat_motion"} & set(summary["failed_checks"])
