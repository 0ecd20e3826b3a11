"""The person's side in a real headless Chromium: decision screen QR -> report page -> dispute
-> the operator corrects it -> the page shows the correction and the new score.

rider-low's code is shown to the emulated bike; the bike's page shows the deposit decision, its
reasons with their events and a QR. The phone "scans" that QR with the terminal's own decoder,
opens the report page (axe-checked in both languages, screenshots), contests the parking report
made at a legal bay with the page's form; an operator corrects it through the API; the page then
shows the dispute's steps, the event as corrected and the recomputed score.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import requests

from backend.seed import WRONG_PARKING_EVENT_ID
from terminal.emulator.phone import scan_screen_qr
from terminal.emulator.site import EmulatorSite
from tests.browser import PageFactory, check_axe, screenshot, small_touch_targets

if TYPE_CHECKING:
    from playwright.sync_api import Page

WAIT_MS = 60_000  # scanning, score, hold and unlock on 2 busy cores, with room
OPERATOR = "ops-operator-1"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorSite]:
    with EmulatorSite("bike", state_dir=tmp_path_factory.mktemp("site"), clips=[]) as running:
        yield running


def _check(page: Page, name: str) -> None:
    check_axe(page, name)
    assert small_touch_targets(page) == [], f"controls under 48 px on {name}"
    screenshot(page, name, "portrait", full_page=True)


def _operator_corrects(site: EmulatorSite, dispute_id: str) -> dict:
    assert site.emulator is not None
    server = site.emulator.server
    response = requests.post(
        f"{server.url}/v1/disputes/{dispute_id}/decision",
        json={"outcome": "corrected", "note": "A legal bike bay on the map: report removed."},
        headers={"Authorization": f"Bearer {server.api_key_for(OPERATOR)}",
                 "Idempotency-Key": f"decide-{dispute_id}"}, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_decision_qr_report_dispute_correction_new_score(
        site: EmulatorSite, page_factory: PageFactory) -> None:
    panel = page_factory("landscape")
    bike = page_factory("portrait")
    panel.goto(site.panel_url)
    bike.goto(site.device_url)
    panel.get_by_role("button", name="Show rider-low's code").click()

    # The decision screen: summary, reasons naming the costliest factor with its events, a QR.
    bike.locator("#ride-report svg").wait_for(timeout=WAIT_MS)
    assert "score_below_threshold" in (bike.locator("#ride-summary").text_content() or "")
    first = bike.locator("#ride-reasons li").first
    assert first.get_attribute("data-code") == "parking_violations"
    assert WRONG_PARKING_EVENT_ID in (first.text_content() or "")
    _check(bike, "person-decision-screen")
    svg = bike.locator("#ride-report svg").evaluate("node => node.outerHTML")
    url = scan_screen_qr(svg)  # the phone reads the QR off the screen
    assert url.startswith(site.device_url.rstrip("/") + "/me/")
    assert bike.locator("#ride-report-link").get_attribute("href") == url

    phone = page_factory("portrait")
    phone.goto(f"{url}?lang=en")
    assert phone.locator("#person-score").text_content() == "640"
    factors = phone.locator("#person-factors tbody tr")
    assert factors.count() == 3
    assert phone.locator(f"#event-{WRONG_PARKING_EVENT_ID}").get_attribute(
        "data-status") == "counted"
    _check(phone, "person-report-en")
    phone.goto(f"{url}?lang=zh")
    phone.get_by_role("heading", name="您的信用分报告").wait_for()
    _check(phone, "person-report-zh")

    # The dispute, from the page's own form.
    phone.goto(f"{url}?lang=en")
    phone.get_by_label("What is wrong").select_option(f"event:{WRONG_PARKING_EVENT_ID}")
    phone.get_by_label("Why (in your own words)").fill(
        "I left the bike in the station's bike bay, a legal bay.")
    phone.get_by_role("button", name="Open a dispute").click()
    phone.locator("#person-opened").wait_for()
    dispute = phone.locator("#person-disputes > li").first
    assert dispute.get_attribute("data-status") == "under_review"
    # While under review the event does not count against the rider.
    assert phone.locator(f"#event-{WRONG_PARKING_EVENT_ID}").get_attribute(
        "data-status") == "disputed"
    assert phone.locator("#person-score").text_content() == "650"
    _check(phone, "person-dispute-opened")
    dispute_id = (dispute.get_attribute("id") or "").removeprefix("dispute-")
    assert dispute_id.startswith("dsp_")

    decided = _operator_corrects(site, dispute_id)
    assert decided["status"] == "corrected"
    phone.reload()
    dispute = phone.locator(f"#dispute-{dispute_id}")
    assert dispute.get_attribute("data-status") == "corrected"
    assert dispute.locator(".steps li").count() == 2
    assert "A legal bike bay on the map" in (dispute.text_content() or "")
    assert phone.locator(f"#event-{WRONG_PARKING_EVENT_ID}").get_attribute(
        "data-status") in ("corrected", None)
    assert phone.locator("#person-score").text_content() == "650"
    # The corrected event can no longer be contested; nothing under review is offered twice.
    options = phone.locator("#dispute-item option").evaluate_all(
        "nodes => nodes.map(n => n.value)")
    assert f"event:{WRONG_PARKING_EVENT_ID}" not in options
    _check(phone, "person-dispute-corrected")


def test_an_expired_or_made_up_link_says_so(site: EmulatorSite,
                                           page_factory: PageFactory) -> None:
    phone = page_factory("portrait", allow_console_errors=True)  # the 404 is the point
    response = phone.goto(f"{site.device_url.rstrip('/')}/me/not-a-real-token?lang=en")
    assert response is not None and response.status == 404
    phone.get_by_role("alert").filter(has_text="expired or is not valid").wait_for()
    _check(phone, "person-report-expired")


def test_a_dispute_without_a_reason_is_refused_and_loses_nothing(
        site: EmulatorSite) -> None:
    assert site.emulator is not None
    server = site.emulator.server
    r = requests.post(f"{server.url}/v1/person/sessions", timeout=10,
                      json={"code": site.emulator.wallet_code("rider-good")})
    token = r.json()["token"]
    page = f"{site.device_url.rstrip('/')}/me/{token}"
    refused = requests.post(f"{page}/disputes?lang=en", timeout=10,
                            data={"item": "event:evt_0", "reason": "  "})
    assert refused.status_code == 400
    assert "say in your own words" in refused.text
    other = requests.post(f"{page}/disputes", timeout=10, headers={"Origin": "http://evil"},
                          data={"item": "event:evt_0", "reason": "x"})
    assert other.status_code == 403
