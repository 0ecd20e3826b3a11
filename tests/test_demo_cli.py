"""`scanpay demo` runs a whole rental on the emulator and reports it as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "terminal.cli.main", "demo", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("rider", "outcome", "deposit", "first_reason", "fare"),
    [
        ("good", "completed", False, "on_time_returns", 300),
        ("low", "completed", True, "parking_violations", 300),
        ("blacklisted", "declined", False, "court_blacklist", 0),
    ],
)
def test_demo_json_reports_the_rental(rider: str, outcome: str, deposit: bool,
                                      first_reason: str, fare: int) -> None:
    result = demo("--rider", rider, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["outcome"] == outcome
    assert 350 <= summary["score"] <= 950
    decision = summary["decision"]
    assert decision["deposit_required"] is deposit
    assert decision["amount_minor"] == (19900 if deposit else 0)
    assert decision["currency"] == "CNY"
    assert decision["reason_codes"][0] == first_reason
    assert 1 <= len(decision["reason_codes"]) <= 4
    assert summary["fare"] == {**summary["fare"], "amount_minor": fare, "currency": "CNY"}
    assert summary["events_uploaded"] == summary["events_logged"]
    if outcome == "completed":
        assert summary["events_logged"] >= 4


def test_demo_transcript_is_readable() -> None:
    result = demo("--rider", "low")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for words in ("QR read by", "score 640", "deposit of 199.00 CNY required",
                  "deposit 199.00 CNY held", "unlocked", "fare 2 started block(s): 3.00 CNY",
                  "deposit 199.00 CNY released", "uploaded to the score service"):
        assert words in out, words


def test_demo_refuses_bad_arguments_in_one_line() -> None:
    for args in (["--rider", "nobody"], ["--ride-minutes", "-3"], ["--config", "/nonexistent"]):
        result = demo(*args)
        assert result.returncode in (1, 2)
        assert result.stderr.count("\n") == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_kiosk_qr_demo_pays_both_ways_and_refuses_the_replay() -> None:
    result = demo("--device", "kiosk", "--pay", "qr", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["merchant_qr"]["outcome"] == "paid"
    assert summary["wallet_code"]["outcome"] == "paid"
    assert summary["replay"]["reason_codes"] == ["code_already_used"]


@pytest.mark.parametrize("args", [
    ["--attack", "photo"],
    ["--pay", "qr"],
    ["--customer", "scripted"],
    ["--clip", "face.mp4"],
    ["--device", "kiosk", "--rider", "low"],
    ["--device", "kiosk", "--ride-minutes", "10"],
    ["--device", "kiosk", "--attack", "photo"],
])
def test_a_flag_for_the_other_device_is_refused_with_the_reason(args: list[str]) -> None:
    result = demo(*args)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "applies to" in result.stderr
    assert result.stdout == ""


def test_kiosk_demo_runs_orders_through_the_kiosk_order_flow(tmp_path) -> None:
    # Without a face clip (no shared data here) the face order is skipped with its reason.
    result = subprocess.run([sys.executable, "-m", "terminal.cli.main", "demo", "--device",
                             "kiosk", "--json"], capture_output=True, text=True, timeout=120,
                            check=False, env={**_env(), "SCANPAY_SHARED": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "completed"
    qr, face = summary["orders"]
    assert qr["paid_with"] == "qr" and qr["outcome"] == "paid"
    assert qr["currency"] == "CNY" and qr["total_minor"] > 0 and qr["order_id"]
    assert face["paid_with"] == "face" and face["outcome"] == "skipped"
    assert "no face clip" in face["reasons"][0]
    assert summary["events_uploaded"] == summary["events_logged"] >= 1


@pytest.mark.shared
def test_kiosk_demo_pays_one_order_by_qr_and_one_by_face() -> None:
    from terminal.emulator.smile_demo import PAY_CLIP, shared_faces_dir

    if not (shared_faces_dir() / PAY_CLIP).is_file():
        pytest.skip("needs the EyeBlink8 clips in the shared data (SCANPAY_SHARED)")
    result = demo("--device", "kiosk", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "completed"
    assert [(o["paid_with"], o["outcome"]) for o in summary["orders"]] == [
        ("qr", "paid"), ("face", "paid")]
    assert len({o["order_id"] for o in summary["orders"]}) == 2


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
