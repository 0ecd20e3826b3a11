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
        ("good", "completed", False, "score_above_threshold", 300),
        ("low", "completed", True, "score_below_threshold", 300),
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
    for words in ("QR read by", "score 550", "deposit of 199.00 CNY required",
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
