"""The emulator's Smile-to-Pay scenario on real clips (needs ../shared; skipped without it)."""

from __future__ import annotations

import pytest

from terminal.emulator.smile_demo import (
    PAY_CLIP,
    SmileDemoError,
    run_smile_demo,
    shared_faces_dir,
)

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def clips():
    if not (shared_faces_dir() / PAY_CLIP).is_file():
        pytest.skip(f"EyeBlink8 clips not found under {shared_faces_dir()} (set SCANPAY_SHARED)")


@pytest.mark.slow
def test_the_enrolled_person_pays_with_their_clip(clips):
    summary = run_smile_demo(attack="none")
    assert summary["enrollment"]["enrolled"]
    payment = summary["payment"]
    assert summary["completed"], payment
    assert payment["outcome"] == "charged" and payment["digits_asked"] == "last4"
    assert "clip-driven" in summary["mode"]


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["photo", "screen"])
def test_a_held_up_still_never_completes(clips, attack):
    summary = run_smile_demo(attack=attack)
    assert not summary["completed"]
    assert summary["payment"]["outcome"] in ("timed_out", "spoof_suspected")
    assert summary["payment"]["charge_id"] is None


def test_a_missing_clip_is_a_clear_error(tmp_path):
    with pytest.raises(SmileDemoError, match="clip not found"):
        run_smile_demo(clip=tmp_path / "nope.mp4")


def test_an_unknown_attack_is_refused():
    with pytest.raises(SmileDemoError, match="attack"):
        run_smile_demo(attack="mask")  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_scripted_customer_answers_the_kiosks_random_challenge_and_pays(clips):
    summary = run_smile_demo(customer="scripted")
    payment = summary["payment"]
    assert summary["completed"], payment
    asked = [p for p in payment["prompts"] if p.startswith("Please") and "digits" not in p]
    assert len(asked) >= 2  # a head turn and an expression, in a random order
    assert any("turn your head" in p for p in asked)
    assert payment["liveness"]["checks"]["identity_continuity"]["passed"] is True


@pytest.mark.slow
def test_a_swap_to_another_person_after_the_first_frames_is_refused(clips):
    summary = run_smile_demo(customer="scripted", attack="swap")
    payment = summary["payment"]
    assert not summary["completed"]
    assert payment["outcome"] == "spoof_suspected" and payment["reason_codes"] == ["face_changed"]
    assert payment["charge_id"] is None


@pytest.mark.slow
def test_the_kiosks_random_challenge_is_not_answered_by_a_held_up_photo(clips):
    summary = run_smile_demo(customer="scripted", attack="screen")
    assert not summary["completed"]
    assert summary["payment"]["outcome"] in ("timed_out", "spoof_suspected")


def test_a_swap_needs_the_scripted_customer():
    with pytest.raises(SmileDemoError, match="scripted"):
        run_smile_demo(attack="swap")
