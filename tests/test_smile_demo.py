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
