"""The operator console in the real headless Chromium: sign in with a one-time link, a unit seen
through a real MQTT heartbeat, "find" acknowledged by a unit following the fleet contract, its
alarm cleared, a dispute corrected with the person's new score, sign out; axe-core on every page.
The Chinese console carries no English sentence of the services: refusals, the back end's own
command details, alarms and the dead-letter notice (which refreshes with the list) in Chinese."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend import disputes
from backend.console import routes_fleet
from backend.fleet import dead_letters
from backend.seed import WRONG_PARKING_EVENT_ID
from tests.browser import check_axe, screenshot
from tests.console_support import FleetStack, link_for, wait_for

START = 1_796_300_000.0


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetStack]:
    monkeypatch.setattr(routes_fleet, "REFRESH_S", 1)  # the list refreshes every second here
    with FleetStack(["bike-0007", "bike-0008"], START) as running:
        yield running


def _heard(stack: FleetStack, device_id: str, battery: int) -> None:
    from backend.fleet import service

    def seen() -> bool:
        found = [v for v in service.list_vehicles(stack.server.backend)["vehicles"]
                 if v["device_id"] == device_id]
        return bool(found) and found[0]["battery_pct"] == battery
    wait_for(seen, f"{device_id}'s heartbeat")


def _open_alarms(stack: FleetStack, device_id: str) -> list[str]:
    from backend.fleet import service

    return [a["code"] for a in service.vehicle_detail(stack.server.backend, device_id)["alarms"]]


def test_an_operator_signs_in_finds_a_bike_and_corrects_a_dispute(stack, page_factory) -> None:
    from playwright.sync_api import expect

    first = stack.unit("bike-0007")
    first.heartbeat(battery_pct=58)
    first.alarm("tamper", "The frame was forced.")
    _heard(stack, "bike-0007", 58)
    wait_for(lambda: _open_alarms(stack, "bike-0007") == ["tamper"], "the tamper alarm")
    dispute_id = disputes.open_dispute(stack.server.backend, "rider-low",
                                       {"kind": "event", "id": WRONG_PARKING_EVENT_ID},
                                       "I left the bike in the marked bay by the station.")[
        "dispute_id"]
    page = page_factory("landscape")
    page.goto(stack.server.url + link_for(stack.server))
    check_axe(page, "console-link")
    page.get_by_role("button", name="Sign in to the operator console").click()
    expect(page.get_by_role("heading", name="Fleet", level=1)).to_be_visible()
    row = page.locator('tr[data-device="bike-0007"]')
    expect(row).to_contain_text("58 %")
    expect(row).to_contain_text("available")
    expect(row).to_contain_text("online")
    check_axe(page, "console-fleet")
    screenshot(page, "console-fleet", "landscape")

    # A unit that reports after the page loaded appears without a reload.
    stack.unit("bike-0008").heartbeat(battery_pct=91)
    expect(page.locator('tr[data-device="bike-0008"]')).to_contain_text("91 %")
    expect(page.locator("#fleet-table caption")).to_have_text("2 vehicle(s)")

    page.get_by_role("link", name="bike-0007").click()
    expect(page.get_by_role("heading", name="Unit bike-0007")).to_be_visible()
    check_axe(page, "console-vehicle")
    page.get_by_role("button", name="Find (beep and flash)").click()
    status = page.locator("#command-status")
    expect(status).to_have_attribute("data-status", "done")
    expect(status).to_contain_text("beeped and flashed")
    assert len(first.executed) == 1
    screenshot(page, "console-vehicle-find-done", "landscape")
    page.get_by_role("button", name="Clear the tamper alarm").click()
    expect(page.locator("#alarm-cleared")).to_contain_text("Alarm tamper cleared.")
    expect(page.locator('tr[data-alarm="tamper"]')).to_have_attribute("data-open", "no")
    assert _open_alarms(stack, "bike-0007") == []
    check_axe(page, "console-vehicle-alarm-cleared")

    page.get_by_role("link", name="Disputes").click()
    expect(page.get_by_role("heading", name="Disputes", level=1)).to_be_visible()
    check_axe(page, "console-disputes")
    page.get_by_role("link", name=dispute_id).click()
    expect(page.locator("#dispute-reason")).to_contain_text("marked bay by the station")
    expect(page.locator("#audit-verdict")).to_contain_text("verifies")
    check_axe(page, "console-dispute")
    page.get_by_label("Note to the person").fill("The report was made at a legal bike bay.")
    page.get_by_role("button", name="Correct the record").click()
    result = page.locator("#decision-result")
    expect(result).to_contain_text("Decided: corrected")
    expect(result).to_contain_text("Score of rider-low now 650 (was 640)")
    expect(page.locator("#dispute-steps li")).to_have_count(2)
    check_axe(page, "console-dispute-decided")
    screenshot(page, "console-dispute-decided", "landscape")

    # The same page in Chinese, and back.
    page.get_by_role("link", name="Show the console in Chinese").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#decision-result")).to_contain_text("rider-low 当前评分")
    expect(page.get_by_role("link", name="车队")).to_be_visible()
    check_axe(page, "console-dispute-zh")
    screenshot(page, "console-dispute-zh", "landscape")
    page.get_by_role("link", name="用英文显示控制台").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#login-message")).to_have_text("You are signed out.")
    check_axe(page, "console-login")
    page.goto(stack.server.url + "/console/fleet")
    expect(page.locator("#login-message")).to_contain_text("Sign in with your operator")


def test_the_console_works_from_the_keyboard(stack, page_factory) -> None:
    from playwright.sync_api import expect

    page = page_factory("landscape")
    page.goto(stack.server.url + "/console/login")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Show the console in Chinese")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Operator API key", exact=True)).to_be_focused()
    page.keyboard.type(stack.server.api_key_for("emu-operator-0001"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Fleet", level=1)).to_be_visible()
    # A wrong key in a second browser: a clear message, read out as an alert.
    # The refusal is a 403, which Chromium logs; it must be the page's only console error.
    other = page_factory("landscape", allow_console_errors=True)
    other.goto(stack.server.url + "/console/login")
    bike_key = stack.server.api_key_for("emu-bike-0001")
    other.get_by_label("Operator API key", exact=True).fill(bike_key)
    other.get_by_role("button", name="Sign in").click()
    expect(other.get_by_role("alert")).to_contain_text("does not belong to an operator")
    check_axe(other, "console-login-refused")
    errors = page_factory.console_errors(other)
    assert len(errors) == 1 and "status of 403" in errors[0], errors


# The services' English sentences a Chinese console must not show (their words come from codes).
ENGLISH_SERVICE_WORDS = ("no answer from the unit", "not delivered to the broker", "has no open",
                         "battery at 12%", "refused by the database", "cleared. If the unit",
                         "sent, waiting for the unit", "timed out")


def test_the_chinese_console_says_the_services_messages_in_chinese(stack, page_factory) -> None:
    import re

    from playwright.sync_api import expect

    quiet = stack.unit("bike-0008", answer=False)
    quiet.heartbeat(battery_pct=12)
    quiet.alarm("low_battery", "battery at 12%, below 20%: no new rides start until it is charged")
    _heard(stack, "bike-0008", 12)
    wait_for(lambda: _open_alarms(stack, "bike-0008") == ["low_battery"], "the low battery alarm")
    with stack.server.backend.store.transaction() as conn:
        dead_letters.record(conn, "not/a/fleet/topic", b"\xff", "E: x", START)
    page = page_factory("landscape", locale="zh-CN")
    page.goto(stack.server.url + link_for(stack.server) + "&lang=zh")
    page.get_by_role("button", name="登录运营控制台").click()
    expect(page.get_by_role("heading", name="车队", level=1)).to_be_visible()
    notice = page.locator("#dead-letters")
    expect(notice).to_have_text(re.compile(r"^1 条设备消息被数据库拒收"))
    # A dead letter after the page loaded shows without a reload: it refreshes with the list.
    with stack.server.backend.store.transaction() as conn:
        dead_letters.record(conn, "not/a/fleet/topic", b"\xfe", "E: y", START)
    expect(notice).to_have_text(re.compile(r"^2 条设备消息被数据库拒收"))
    expect(notice).to_have_attribute("data-count", "2")
    check_axe(page, "console-fleet-zh")
    screenshot(page, "console-fleet-zh", "landscape")

    page.get_by_role("link", name="bike-0008").click()
    expect(page.get_by_role("heading", name="设备 bike-0008")).to_be_visible()
    alarm = page.locator('tr[data-alarm="low_battery"]')
    expect(alarm).to_contain_text("电量低：充电前不会开始新的骑行。")
    page.get_by_role("button", name="寻车（鸣响并闪灯）").click()
    status = page.locator("#command-status")
    expect(status).to_contain_text("寻车（鸣响并闪灯）")
    expect(status).to_contain_text("已发送，等待设备确认")
    wait_for(lambda: stack.bridge.stats.commands_published >= 1, "the command published")
    stack.clock.now += 600  # the unit never answers: the back end times the command out
    expect(status).to_have_attribute("data-status", "timed_out")
    expect(status).to_contain_text("超时（设备未应答） — 截止时间前设备没有应答")
    page.get_by_role("button", name="解除 low_battery 告警").click()
    expect(page.locator("#alarm-cleared")).to_contain_text("low_battery 告警已解除")
    expect(page.locator("#command-status")).to_have_count(0)
    history = page.locator("section[aria-labelledby=history] tbody tr").first
    expect(history).to_contain_text("截止时间前设备没有应答")
    check_axe(page, "console-vehicle-zh")
    screenshot(page, "console-vehicle-zh", "landscape", full_page=True)
    shown = page.locator("main").inner_text()
    assert [w for w in ENGLISH_SERVICE_WORDS if w in shown] == []
    # The unit's state, the telemetry kinds and field names are said in Chinese too.
    assert not page.locator("#vehicle-state").inner_text().isascii()
    telemetry = page.locator("section[aria-labelledby=telemetry]")
    expect(telemetry).to_contain_text("报警已解除")
    expect(telemetry).to_contain_text("在线 是")
    assert "alarm_cleared" not in shown and "online True" not in shown

    # Clearing it again from a page opened before (the service refuses): the refusal in Chinese.
    # The 409 is the point, and Chromium logs it.
    stale = page_factory("landscape", locale="zh-CN", allow_console_errors=True)
    stale.context.add_cookies(page.context.cookies())
    stale.goto(stack.server.url + "/console/fleet/bike-0008")
    csrf = stale.locator("input[name=csrf]").first.get_attribute("value")
    stale.evaluate("""([action, csrf]) => {
        const form = document.createElement('form');
        form.method = 'post';
        form.action = action;
        const field = document.createElement('input');
        field.type = 'hidden'; field.name = 'csrf'; field.value = csrf;
        form.appendChild(field);
        document.body.appendChild(form);
        form.submit();
    }""", ["/console/fleet/bike-0008/alarms/low_battery/clear", csrf])
    alert = stale.get_by_role("alert")
    expect(alert).to_have_text(
        "设备 bike-0008 没有未处理的 low_battery 告警（可能已被解除）；未作任何更改。")
    check_axe(stale, "console-refused-zh")
    screenshot(stale, "console-refused-zh", "landscape")
    assert [w for w in ENGLISH_SERVICE_WORDS if w in stale.locator("main").inner_text()] == []
