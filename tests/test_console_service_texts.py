"""The console's service messages in the operator's language: what the fleet and dispute
services refuse (by their error codes), what the back end writes about a command it closed,
alarms by their codes, and the dead-letter notice, which refreshes with the fleet list.

Every code the services can refuse with has words in both languages (grepped from their
source), so a Chinese console never shows the services' English sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from backend import disputes
from backend.console import fleet_view
from backend.console.texts import LANGUAGES, catalogue
from backend.fleet import dead_letters
from backend.seed import WRONG_PARKING_EVENT_ID
from payments.fleet_messages import KNOWN_ALARM_CODES, LOCK_STATES
from tests.console_support import FleetStack, csrf_of, sign_in, wait_for

ROOT = Path(__file__).resolve().parent.parent
START = 1_796_200_000.0
_API_ERROR = re.compile(r'ApiError\(\s*\d{3},\s*"([a-z_]+)"')
_PROBLEM = re.compile(r'Problem\(\d{3}, f?"[^"]*"[\s,]*"([a-z_]+)"\)')


def _source(*parts: str) -> str:
    return ROOT.joinpath(*parts).read_text(encoding="utf-8")


def service_codes() -> set[str]:
    """Every error code the console can get from the services it calls, and its own."""
    codes = set(_API_ERROR.findall(_source("backend", "fleet", "service.py")))
    codes |= set(_API_ERROR.findall(_source("backend", "disputes.py")))
    for view in ("fleet_view.py", "disputes_view.py"):
        codes |= set(_PROBLEM.findall(_source("backend", "console", view)))
    assert {"unknown_vehicle", "alarm_not_open", "dispute_decided", "fleet_missing",
            "bad_command"} <= codes
    return codes


def test_every_refusal_detail_alarm_and_audit_step_has_words_in_both_languages() -> None:
    words = catalogue()
    ids = {f"service.{c}" for c in service_codes()}
    commands = _source("backend", "fleet", "commands.py")
    for english, message_id in fleet_view.BACKEND_DETAILS.items():
        assert f'"{english}"' in commands, english  # still the back end's own words
        ids.add(message_id)
    reporter = _source("terminal", "fleet", "reporter.py")
    alarms = set(re.findall(r'self\._alarm\("([a-z_]+)"', reporter))
    assert {"jammed", "low_battery", "lock_timeout", "unlock_failed"} <= alarms
    ids |= {f"alarm.{code}" for code in alarms | set(KNOWN_ALARM_CODES)}
    ids |= {f"lock.{state}" for state in LOCK_STATES}
    ids |= {f"audit.{action}" for action in ("opened", "upheld", "corrected")}
    missing = sorted(f"{lang}:{i}" for i in ids for lang in LANGUAGES if i not in words[lang])
    assert missing == []


@pytest.fixture
def stack() -> Iterator[FleetStack]:
    with FleetStack(["bike-0007"], START) as running:
        yield running


def _chinese(stack: FleetStack) -> requests.Session:
    http = sign_in(stack.server)
    assert http.get(f"{stack.server.url}/console/fleet?lang=zh", timeout=5).ok  # the cookie
    return http


def _poll(http: requests.Session, url: str) -> dict:
    answer = http.get(url, headers={"X-Console-Poll": "1"}, timeout=5)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_refusals_and_timed_out_commands_are_in_chinese(stack: FleetStack) -> None:
    unit = stack.unit("bike-0007", answer=False)
    unit.heartbeat()
    http = _chinese(stack)
    base = stack.server.url
    wait_for(lambda: _poll(http, f"{base}/console/fleet/rows")["count"] == 1, "the heartbeat")
    page = f"{base}/console/fleet/bike-0007"
    csrf = csrf_of(http, stack.server, "/console/fleet/bike-0007")
    # Clearing an alarm that is not open: the service's 409, in Chinese.
    refused = http.post(f"{page}/alarms/tamper/clear", data={"csrf": csrf},
                        allow_redirects=False, timeout=5)
    assert refused.status_code == 409
    assert "设备 bike-0007 没有未处理的 tamper 告警" in refused.text
    assert "has no open" not in refused.text and "no open &#39;tamper&#39;" not in refused.text
    # A command the unit never answers: the back end's own detail, in Chinese.
    sent = http.post(f"{page}/commands", data={"csrf": csrf, "command": "lock"},
                     allow_redirects=False, timeout=5)
    command_id = sent.headers["location"].split("command=")[1]
    wait_for(lambda: stack.bridge.stats.commands_published >= 1, "the command published")
    stack.clock.now += 600
    status = _poll(http, f"{base}/console/commands/{command_id}")
    assert status["status"] == "timed_out" and status["label"] == "超时（设备未应答）"
    assert status["detail_text"] == "截止时间前设备没有应答" and status["detail_lang"] == ""
    detail = http.get(f"{base}{sent.headers['location']}", timeout=5).text
    assert "截止时间前设备没有应答" in detail and "上锁 (" in detail
    assert "no answer from the unit" not in detail
    english = http.get(f"{base}{sent.headers['location']}&lang=en", timeout=5).text
    assert "no answer from the unit by the deadline" in english
    gone = http.get(f"{base}/console/commands/cmd_{'0' * 32}?lang=zh",
                    headers={"X-Console-Poll": "1"}, timeout=5)
    assert gone.status_code == 404 and gone.json() == {"error": "没有这条命令。"}


def test_a_decided_dispute_refused_in_chinese(stack: FleetStack) -> None:
    backend = stack.server.backend
    opened = disputes.open_dispute(backend, "rider-low",
                                   {"kind": "event", "id": WRONG_PARKING_EVENT_ID},
                                   "A legal bay.")["dispute_id"]
    disputes.decide_dispute(backend, opened, "upheld", "Checked.", actor="operator:x")
    http = _chinese(stack)
    page = f"{stack.server.url}/console/disputes/{opened}"
    csrf = csrf_of(http, stack.server, f"/console/disputes/{opened}")
    again = http.post(f"{page}/decision", data={"csrf": csrf, "outcome": "corrected",
                                                "note": "Second thoughts."},
                      allow_redirects=False, timeout=5)
    assert again.status_code == 409
    assert f"申诉 {opened} 已经作出决定" in again.text and "already" not in again.text
    trail = http.get(page, timeout=5).text
    assert "当事人提交申诉" in trail and "维持原记录" in trail


def test_the_dead_letter_notice_refreshes_with_the_list(stack: FleetStack) -> None:
    http = _chinese(stack)
    base = stack.server.url
    page = http.get(f"{base}/console/fleet", timeout=5).text
    assert 'id="dead-letters" data-count="0" hidden' in page
    assert _poll(http, f"{base}/console/fleet/rows")["dead_letters"] == 0
    with stack.server.backend.store.transaction() as conn:
        assert dead_letters.record(conn, "not/a/fleet/topic", b"\xff", "E: x", START)
    rows = _poll(http, f"{base}/console/fleet/rows")
    assert rows["dead_letters"] == 1
    assert rows["dead_letters_text"].startswith("1 条设备消息被数据库拒收")
    english = _poll(http, f"{base}/console/fleet/rows?lang=en")
    assert english["dead_letters_text"].startswith("1 unit message(s) refused")
