"""The dev panel in a real headless Chromium: a whole bike ride completed by clicking.

The panel shows rider-good's fresh payment code to the unit's camera, the unit unlocks (seen on
the bike's own status page, pushed live), the panel closes the lock, the fare is charged and the
event log fills in. axe-core checks the panel and the bike page in both layouts, controls are at
least 48 px, screenshots are written as test artefacts, and any console error fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from terminal.emulator.panel.sources import Clip
from terminal.emulator.site import EmulatorSite
from tests.browser import PageFactory, check_axe, screenshot, small_touch_targets

if TYPE_CHECKING:
    from playwright.sync_api import Page

RIDE_WAIT_MS = 60_000  # scanning, score, unlock and settlement on 2 busy cores, with room


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorSite]:
    import cv2
    import numpy as np

    media = tmp_path_factory.mktemp("media")
    clip = media / "face.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (64, 48))
    for value in (60, 180):
        writer.write(np.full((48, 64, 3), value, np.uint8))
    writer.release()
    with EmulatorSite("bike", state_dir=tmp_path_factory.mktemp("site"),
                      clips=[Clip("test/face.avi", clip)]) as running:
        yield running


def _check(page: Page, name: str, layout: str) -> Path:
    check_axe(page, name)
    assert small_touch_targets(page) == [], f"controls under 48 px on {name}"
    return screenshot(page, name, layout, full_page=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("layout", ["landscape", "portrait"])
def test_a_whole_bike_ride_by_clicking_the_panel(site: EmulatorSite, page_factory: PageFactory,
                                                  layout: str) -> None:
    panel = page_factory(layout)  # type: ignore[arg-type]
    bike = page_factory(layout)  # type: ignore[arg-type]
    panel.goto(site.panel_url)
    bike.goto(site.device_url)
    bike.get_by_text("Ready: show your payment code to the camera").wait_for()
    _check(panel, "emulate-panel", layout)
    _check(bike, "emulate-bike-idle", layout)
    assert panel.get_by_role("link", name="Open the bike lock page").get_attribute(
        "href") == site.device_url

    panel.get_by_role("button", name="Show rider-good's code").click()
    bike.get_by_text("Riding: close the lock to end the ride").wait_for(timeout=RIDE_WAIT_MS)
    assert bike.locator("#unit-latch").text_content() == "open"
    assert "score_above_threshold" in (bike.locator("#ride-summary").text_content() or "")
    assert "on_time_returns" in (bike.locator("#ride-reasons").text_content() or "")
    panel.locator("#latch-state", has_text="open").wait_for()
    _check(bike, "emulate-bike-riding", layout)

    panel.get_by_role("button", name="Close the lock (end the ride)").click()
    bike.get_by_text("Ready: show your payment code to the camera").wait_for(
        timeout=RIDE_WAIT_MS)
    assert bike.locator("#ride-fare").text_content() == "1.50 CNY (charged to the wallet)"
    log = panel.get_by_role("table")
    log.get_by_role("cell", name="payment.captured").first.wait_for()
    assert log.get_by_role("row").nth(1).get_by_role("cell").nth(1).text_content() == "settled"
    _check(panel, "emulate-panel-after-ride", layout)
    _check(bike, "emulate-bike-after-ride", layout)


def test_panel_controls_answer_in_the_page(site: EmulatorSite,
                                           page_factory: PageFactory) -> None:
    panel = page_factory("landscape")
    panel.goto(site.panel_url)
    panel.get_by_label("Face clip").select_option("test/face.avi")
    panel.get_by_role("button", name="Hold up a phone screen showing it").click()
    panel.locator("#camera-view", has_text="a phone screen showing a photo of").wait_for()
    panel.get_by_label("Image file path").fill("/no/such/picture.png")
    panel.get_by_role("button", name="Show the image").click()
    panel.get_by_role("alert").filter(has_text="file not found").wait_for()
    panel.get_by_role("button", name="Nothing in view").click()
    panel.locator("#camera-view", has_text="nothing in view").wait_for()
    assert panel.locator("#alert").text_content() == ""  # the error is cleared
    try:
        panel.get_by_role("button", name="Take the whole back end offline").click()
        panel.locator("#link-score", has_text="offline").wait_for()
        panel.locator("#link-gateway", has_text="offline").wait_for()
        _check(panel, "emulate-panel-offline", "landscape")
    finally:
        panel.get_by_role("button", name="Bring the whole back end online").click()
    panel.locator("#link-gateway", has_text="online").wait_for()
    assert all(link.online for link in site.links.values())


@pytest.fixture(scope="module")
def kiosk_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorSite]:
    with EmulatorSite("kiosk", state_dir=tmp_path_factory.mktemp("kiosk"), clips=[]) as running:
        yield running


def test_whole_kiosk_orders_by_clicking_the_kiosk_and_the_panel(
        kiosk_site: EmulatorSite, page_factory: PageFactory) -> None:
    from tests.test_kiosk_browser import on_screen, order_a_meal, tap, to_payment

    panel = page_factory("landscape")
    kiosk = page_factory("portrait")
    panel.goto(kiosk_site.panel_url)
    _check(panel, "emulate-panel-kiosk", "landscape")
    kiosk.goto(kiosk_site.device_url)
    on_screen(kiosk, "attract")

    order_a_meal(kiosk)
    to_payment(kiosk, "wallet")
    panel.get_by_role("button", name="Show rider-good's code").click()
    on_screen(kiosk, "paid", timeout_ms=RIDE_WAIT_MS)
    panel.get_by_role("table").get_by_role("cell", name="payment.captured").first.wait_for()
    tap(kiosk, '[data-action="finish"]')
    on_screen(kiosk, "attract")

    order_a_meal(kiosk)
    to_payment(kiosk, "qr")
    panel.get_by_role("button", name="Scan the kiosk's QR and pay").click()
    on_screen(kiosk, "paid", timeout_ms=RIDE_WAIT_MS)
    panel.get_by_role("table").get_by_role("cell", name="order.paid").first.wait_for()
    _check(panel, "emulate-panel-kiosk-after-orders", "landscape")
