"""`scanpay bench smile`: stage split from the state machine's transitions, plot, a real run."""

from __future__ import annotations

from pathlib import Path

import pytest

from terminal.bench.smile import _split, measure, plot_latency
from terminal.kiosk.smile_states import SmileEvent, SmileState
from terminal.statemachine import Transition
from tests.face_shared import FACES

E, S = SmileEvent, SmileState
EYEBLINK = FACES / "video" / "eyeblink8"


def steps(*events: tuple[SmileEvent, float]) -> list[Transition]:
    return [Transition(S.IDLE, e, S.IDLE, at) for e, at in events]


def test_an_attempt_is_split_at_its_transitions() -> None:
    row = _split(steps((E.FACE_APPEARED, 10.0), (E.QUALITY_PASSED, 10.1),
                       (E.CHALLENGE_PASSED, 11.5), (E.DIGITS_NEEDED, 11.6),
                       (E.DIGITS_ENTERED, 11.6), (E.MATCHED, 11.65)), "charged")
    assert row["challenge_s"] == pytest.approx(1.5)
    assert row["probe_and_rule_s"] == pytest.approx(0.1)
    assert row["digits_s"] == pytest.approx(0.0)
    assert row["match_s"] == pytest.approx(0.05)
    assert row["decision_s"] == pytest.approx(1.65)


def test_a_regular_asked_for_no_digits_and_an_unfinished_attempt() -> None:
    row = _split(steps((E.FACE_APPEARED, 0.0), (E.CHALLENGE_PASSED, 1.0),
                       (E.NO_DIGITS_NEEDED, 1.2), (E.MATCHED, 1.3)), "charged")
    assert row["probe_and_rule_s"] == pytest.approx(0.2)
    assert row["digits_s"] == pytest.approx(0.0)
    assert row["decision_s"] == pytest.approx(1.3)
    failed = _split(steps((E.FACE_APPEARED, 0.0), (E.SPOOF_DETECTED, 2.0)), "spoof_suspected")
    assert failed["decision_s"] is None and failed["challenge_s"] is None


def test_the_plot_is_written(tmp_path: Path) -> None:
    paid = {"outcome": "charged", "challenge_s": 1.5, "probe_and_rule_s": 0.01,
            "digits_s": 0.0, "match_s": 0.01}
    refused = {"outcome": "spoof_suspected", "challenge_s": 1.6, "probe_and_rule_s": None,
               "digits_s": None, "match_s": None}
    report = {"reaction_s": [0.4, 0.7], "settings": {
        "scripted/1": {"customer": "scripted", "embed_workers": 1, "attempts": [paid] * 3,
                       "summary": {"outcomes": {"charged": 3}}},
        "swap/1": {"customer": "swap", "embed_workers": 1, "attempts": [refused] * 2,
                   "summary": {"outcomes": {"spoof_suspected": 2}}}}}
    path = plot_latency(tmp_path / "p.png", report)
    assert path.stat().st_size > 1000


@pytest.mark.skipif(not (EYEBLINK / "video1_blink05.mp4").is_file(),
                    reason="shared EyeBlink8 clips (../shared/data/faces) not present")
def test_a_real_scripted_attempt_is_verified_and_charged_and_a_swap_is_refused() -> None:
    report = measure(workers=[1], runs=1, customers=("scripted", "swap"))
    swap = report["settings"]["swap/1"]["attempts"][0]
    assert swap["outcome"] == "spoof_suspected" and "face_changed" in swap["reasons"]
    data = report["settings"]["scripted/1"]
    assert [a["outcome"] for a in data["attempts"]] == ["charged"]
    attempt = data["attempts"][0]
    assert len(attempt["actions"]) == 2 and attempt["decision_s"] > attempt["challenge_s"]
    assert attempt["continuity"] < 0.45
