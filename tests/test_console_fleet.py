"""The console's fleet pages over real HTTP, with a real mosquitto, the back end's bridge and a
unit that follows the fleet contract (heartbeats, commands acknowledged)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.console_support import FleetStack, csrf_of, hidden_fields, sign_in, wait_for

START = 1_796_100_000.0


@pytest.fixture
def stack() -> Iterator[FleetStack]:
    with FleetStack(["bike-0007", "bike-0008"], START) as running:
        yield running


def _rows(http: requests.Session, stack: FleetStack, query: str = "") -> dict:
    answer = http.get(f"{stack.server.url}/console/fleet/rows{query}",
                      headers={"X-Console-Poll": "1"}, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_heartbeat_shows_the_unit_in_the_list_with_its_state_and_battery(stack) -> None:
    unit = stack.unit("bike-0007")
    unit.heartbeat(battery_pct=64)
    http = sign_in(stack.server)
    rows = wait_for(lambda: (r := _rows(http, stack)) and "64 %" in r["rows_html"] and r,
                    "the unit's heartbeat")
    assert rows["count"] == 1
    assert 'data-device="bike-0007"' in rows["rows_html"]
    assert "64 %" in rows["rows_html"] and "online" in rows["rows_html"]
    assert 'data-state="available"' in rows["rows_html"]
    page = http.get(f"{stack.server.url}/console/fleet", timeout=5)
    assert "bike-0007" in page.text and "1 vehicle(s)" in page.text
    assert _rows(http, stack, "?state=on_trip")["count"] == 0
    assert _rows(http, stack, "?state=available")["count"] == 1
    detail = http.get(f"{stack.server.url}/console/fleet/bike-0007", timeout=5)
    assert detail.status_code == 200
    assert "<dd>64 %</dd>" in detail.text and "<dd>-71 dBm</dd>" in detail.text
    assert "<td>status</td><td>online yes</td>" in detail.text  # the unit's retained status
    assert '<span class="state state-available" id="vehicle-state">available</span>' in detail.text
    chinese = http.get(f"{stack.server.url}/console/fleet/bike-0007?lang=zh", timeout=5).text
    assert "<td>状态</td><td>在线 是</td>" in chinese
    assert '<span class="state state-available" id="vehicle-state">可用</span>' in chinese
    zh_rows = http.get(f"{stack.server.url}/console/fleet/rows?state=available&lang=zh",
                       headers={"X-Console-Poll": "1"}, timeout=5).json()
    assert ">可用</span>" in zh_rows["rows_html"] and "可用" in zh_rows["caption"]
    http.get(f"{stack.server.url}/console/fleet?lang=en", timeout=5)  # remembered: back
    assert "<p>No heartbeats yet.</p>" not in detail.text and "battery-line" not in detail.text
    stack.clock.now += 60
    unit.heartbeat(battery_pct=61)
    detail = wait_for(lambda: (p := http.get(f"{stack.server.url}/console/fleet/bike-0007",
                                             timeout=5).text) and "<dd>61 %</dd>" in p and p,
                      "the second heartbeat")
    table = detail[detail.index('id="heartbeat-table"'):detail.index("</table>",
                                                                     detail.index("heartbeat-"))]
    assert table.index("<td>61 %</td>") < table.index("<td>64 %</td>")  # newest first
    assert table.count("<td>-71 dBm</td>") == 2 and "<td>3880 mV</td>" in table
    assert 'class="battery-line"' in detail and 'points="0.0,14.4 200.0,15.6"' in detail
    unknown = http.get(f"{stack.server.url}/console/fleet/bike-9999", timeout=5)
    assert unknown.status_code == 404 and "No unit bike-9999 has reported" in unknown.text


def test_a_unit_without_a_battery_gauge_shows_unknown_not_a_charge(stack) -> None:
    unit = stack.unit("bike-0008")
    unit.heartbeat(battery_pct=None)
    http = sign_in(stack.server)
    unknown = '<span title="Charge unknown: the unit has no battery gauge">—</span>'
    rows = wait_for(lambda: (r := _rows(http, stack)) and r["count"] == 1 and r,
                    "the unit's heartbeat")
    assert f"<td>{unknown}</td>" in rows["rows_html"] and " %</td>" not in rows["rows_html"]
    detail = http.get(f"{stack.server.url}/console/fleet/bike-0008", timeout=5).text
    assert f"<dd>{unknown}</dd>" in detail
    table = detail[detail.index('id="heartbeat-table"'):]
    assert f"<td>{unknown}</td>" in table and 'class="battery-line"' not in detail
    chinese = http.get(f"{stack.server.url}/console/fleet/bike-0008?lang=zh", timeout=5).text
    assert "电量未知" in chinese


def test_find_is_sent_and_its_acknowledgement_shown(stack) -> None:
    unit = stack.unit("bike-0007")
    unit.heartbeat()
    http = sign_in(stack.server)
    wait_for(lambda: "76 %" in _rows(http, stack)["rows_html"], "the unit's heartbeat")
    csrf = csrf_of(http, stack.server, "/console/fleet/bike-0007")
    answer = http.post(f"{stack.server.url}/console/fleet/bike-0007/commands",
                       data={"csrf": csrf, "command": "find"}, allow_redirects=False, timeout=5)
    assert answer.status_code == 303
    command_id = answer.headers["location"].split("command=")[1]
    status = wait_for(lambda: (s := http.get(f"{stack.server.url}/console/commands/{command_id}",
                                             headers={"X-Console-Poll": "1"}, timeout=5).json())
                      and s["status"] != "sent" and s, "the acknowledgement")
    assert status["status"] == "done" and status["detail"] == "beeped and flashed"
    assert unit.executed == [command_id]
    page = http.get(f"{stack.server.url}{answer.headers['location']}", timeout=5)
    assert f'data-command-id="{command_id}"' in page.text and 'data-status="done"' in page.text


def test_a_command_needs_csrf_and_a_known_command(stack) -> None:
    unit = stack.unit("bike-0008")
    unit.heartbeat()
    http = sign_in(stack.server)
    wait_for(lambda: "76 %" in _rows(http, stack)["rows_html"], "the unit's heartbeat")
    url = f"{stack.server.url}/console/fleet/bike-0008/commands"
    refused = http.post(url, data={"command": "unlock"}, allow_redirects=False, timeout=5)
    assert refused.status_code == 403
    csrf = hidden_fields(http.get(f"{stack.server.url}/console/fleet/bike-0008",
                                  timeout=5).text)["csrf"]
    odd = http.post(url, data={"csrf": csrf, "command": "set_interval"}, allow_redirects=False,
                    timeout=5)
    assert odd.status_code == 400 and "nothing was sent" in odd.text
    detail = http.get(f"{stack.server.url}/console/fleet/bike-0008", timeout=5).text
    assert "No commands sent yet." in detail and unit.executed == []


def test_a_unit_that_never_answers_shows_timed_out(stack) -> None:
    unit = stack.unit("bike-0008", answer=False)
    unit.heartbeat()
    http = sign_in(stack.server)
    wait_for(lambda: "76 %" in _rows(http, stack)["rows_html"], "the unit's heartbeat")
    csrf = csrf_of(http, stack.server, "/console/fleet/bike-0008")
    answer = http.post(f"{stack.server.url}/console/fleet/bike-0008/commands",
                       data={"csrf": csrf, "command": "lock"}, allow_redirects=False, timeout=5)
    command_id = answer.headers["location"].split("command=")[1]
    wait_for(lambda: stack.bridge.stats.commands_published >= 1, "the command published")
    stack.clock.now += 600  # long past the deadline and its grace (the session is still live)
    status = http.get(f"{stack.server.url}/console/commands/{command_id}", timeout=5).json()
    assert status["status"] == "timed_out"


def test_an_alarm_is_cleared_from_the_unit_page_with_who_and_when(stack) -> None:
    unit = stack.unit("bike-0007")
    unit.heartbeat()
    unit.alarm("tamper", "The frame was forced.")
    http = sign_in(stack.server)
    page_url = f"{stack.server.url}/console/fleet/bike-0007"
    wait_for(lambda: 'data-alarm="tamper" data-open="yes"' in http.get(page_url, timeout=5).text,
             "the open alarm on the unit page")
    page = http.get(page_url, timeout=5).text
    assert 'class="clear-alarm" data-code="tamper"' in page
    clear_url = f"{page_url}/alarms/tamper/clear"
    refused = http.post(clear_url, data={"csrf": "forged"}, allow_redirects=False, timeout=5)
    assert refused.status_code == 403
    assert 'data-alarm="tamper" data-open="yes"' in http.get(page_url, timeout=5).text
    stack.clock.now += 42
    answer = http.post(clear_url, data={"csrf": hidden_fields(page)["csrf"]},
                       allow_redirects=False, timeout=5)
    assert answer.status_code == 303 and answer.headers["location"].endswith("?cleared=tamper")
    after = http.get(stack.server.url + answer.headers["location"], timeout=5).text
    assert "Alarm tamper cleared." in after
    assert 'data-alarm="tamper" data-open="no"' in after and "clear-alarm" not in after
    assert "2026-12-01 04:40:42.000 UTC by console:emu-operator-0001" in after
    twice = http.post(clear_url, data={"csrf": hidden_fields(page)["csrf"]},
                      allow_redirects=False, timeout=5)
    assert twice.status_code == 409 and "has no open tamper alarm" in twice.text
