"""`scanpay person report|dispute|disputes`, `scanpay backend disputes list|decide|audit` and
`scanpay demo --story dispute --json`, against the reference back end on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from backend.seed import WRONG_PARKING_EVENT_ID
from backend.server import BackendServer
from backend.settings import BackendSettings
from terminal.cli.main import main

BIKE = "emu-bike-0001"
OPERATOR = "ops-operator-1"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def server() -> Iterator[BackendServer]:
    with BackendServer(BackendSettings()) as running:
        yield running


def wallet_code(server: BackendServer, subject: str) -> str:
    r = requests.post(f"{server.url}/v1/dev/payment-codes",
                      json={"subject_id": subject, "ttl_s": 60}, timeout=5,
                      headers={"Authorization": f"Bearer {server.api_key_for(BIKE)}"})
    r.raise_for_status()
    return str(r.json()["code"])


def test_report_lists_every_event_that_moved_the_score(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "person", "report", "--subject", "rider-low", "--emulator",
                         "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["range"] == [350, 950] and report["baseline"] == 600
    # 100% of the events that moved the score: their points add up to score - baseline.
    assert sum(e["points"] for e in report["events"]) == report["score"] - report["baseline"]
    assert sum(f["points"] for f in report["factors"]) == report["score"] - report["baseline"]
    listed = {e["id"] for e in report["events"]}
    for factor in report["factors"]:
        assert set(factor["event_ids"]) <= listed and factor["text"]
    assert WRONG_PARKING_EVENT_ID in listed
    assert report["terminal_data"]["face_enrolled"] is False


def test_report_shows_a_restriction_with_its_origin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "person", "report", "--subject", "rider-blacklisted",
                         "--emulator")
    assert code == 0, err
    assert "court_blacklist" in out and "origin: " in out and "reference" in out


def test_the_person_disputes_and_the_operator_corrects(
        server: BackendServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(capsys, "person", "dispute", "--code", wallet_code(server, "rider-low"),
                         "--backend", server.url, "--event", WRONG_PARKING_EVENT_ID,
                         "--reason", "That was a legal bike bay.", "--json")
    assert code == 0, err
    dispute = json.loads(out)
    assert dispute["status"] == "under_review"
    assert dispute["item"] == {"kind": "event", "id": WRONG_PARKING_EVENT_ID}
    monkeypatch.setenv("SCANPAY_API_KEY", server.api_key_for(OPERATOR))
    code, out, err = run(capsys, "backend", "disputes", "list", "--status", "under_review",
                         "--backend", server.url, "--json")
    assert code == 0, err
    assert dispute["dispute_id"] in [d["dispute_id"] for d in json.loads(out)["disputes"]]
    code, out, err = run(capsys, "backend", "disputes", "decide", dispute["dispute_id"],
                         "--outcome", "corrected", "--note", "Legal bay on the map.",
                         "--backend", server.url)
    assert code == 0, err
    assert "corrected" in out
    code, out, err = run(capsys, "backend", "disputes", "audit", dispute["dispute_id"],
                         "--backend", server.url, "--json")
    assert code == 0, err
    assert len(json.loads(out)["rows"]) >= 2
    code, out, err = run(capsys, "person", "disputes", "--code",
                         wallet_code(server, "rider-low"), "--backend", server.url, "--json")
    assert code == 0, err
    mine = next(d for d in json.loads(out)["disputes"]
                if d["dispute_id"] == dispute["dispute_id"])
    assert [s["status"] for s in mine["steps"]] == ["under_review", "corrected"]
    code, out, err = run(capsys, "person", "report", "--code", wallet_code(server, "rider-low"),
                         "--backend", server.url, "--json")
    report = json.loads(out)
    event = next(e for e in report["events"] if e["id"] == WRONG_PARKING_EVENT_ID) \
        if any(e["id"] == WRONG_PARKING_EVENT_ID for e in report["events"]) else None
    assert event is None or event["status"] == "corrected"
    assert report["score"] == 650  # 640 with the wrong parking report, +10 without it


@pytest.mark.parametrize(
    ("args", "message"),
    [(("person", "report", "--subject", "rider-low", "--backend", "http://127.0.0.1:9"),
      "--subject works only with --emulator"),
     (("person", "report", "--code", "x", "--emulator", "--backend", "http://127.0.0.1:9"),
      "leave out --backend"),
     (("person", "dispute", "--subject", "rider-low", "--emulator", "--event", "evt_x",
       "--reason", "x" * 2001), "at most 2000 characters"),
     (("person", "dispute", "--subject", "rider-low", "--emulator", "--event", "evt_x",
       "--reason", "   "), "needs a reason"),
     (("backend", "disputes", "list", "--backend", "http://127.0.0.1:9"), "operator key")],
)
def test_bad_input_gets_one_clear_error_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        args: tuple[str, ...], message: str) -> None:
    monkeypatch.delenv("SCANPAY_API_KEY", raising=False)
    code, out, err = run(capsys, *args)
    assert code == 1 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_used_code_opens_no_report(server: BackendServer,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code_text = wallet_code(server, "rider-good")
    assert run(capsys, "person", "report", "--code", code_text, "--backend", server.url)[0] == 0
    code, _out, err = run(capsys, "person", "report", "--code", code_text, "--backend",
                          server.url)
    assert code == 1 and "used" in err


def test_demo_story_dispute_json() -> None:
    result = subprocess.run([sys.executable, "-m", "terminal.cli.main", "demo", "--story",
                             "dispute", "--json"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    story = json.loads(result.stdout)
    before, after = story["decision_before"], story["decision_after"]
    assert before["deposit_required"] is True and after["deposit_required"] is False
    assert before["reason_codes"][0] == "parking_violations"  # refused because of them
    assert WRONG_PARKING_EVENT_ID in before["reasons"][0]["event_ids"]
    assert story["score_before"] < 650 <= story["score_after"]
    assert story["dispute"]["status"] == "corrected"
    assert [s["status"] for s in story["dispute"]["steps"]] == ["under_review", "corrected"]
    report = story["report"]
    assert report["score"] == story["score_after"] and report["range"] == [350, 950]
    assert {"code", "text", "points"} <= set(report["factors"][0])
    assert sum(f["points"] for f in report["factors"]) == report["score"] - 600
    counted = [e for e in report["events"] if e["status"] == "counted"]
    assert sum(e["points"] for e in counted) == report["score"] - 600
    wrong = [e for e in report["events"] if e["id"] == WRONG_PARKING_EVENT_ID]
    assert all(e["status"] == "corrected" for e in wrong)
