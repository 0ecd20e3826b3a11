"""The kiosk's staff screen in a real headless Chromium: PIN login, an item marked sold out shows
so on the customer's menu at once, and an order paid by wallet code is refunded once — a second
press (from a page loaded before the refund) says it was already refunded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser import PageFactory
from tests.kiosk_support import STAFF_PIN, KioskRig, kiosk_rig
from tests.test_kiosk_browser import (
    PAYMENT_WAIT_MS,
    back_to_start,
    on_screen,
    open_kiosk,
    order_a_meal,
    record,
    tap,
    to_payment,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskRig]:
    """One kiosk for the module."""
    with kiosk_rig(tmp_path_factory.mktemp("kiosk")) as running:
        yield running
        back_to_start(running)


def staff_page(page_factory: PageFactory, rig: KioskRig, layout: str = "landscape",
               lang: str = "en") -> Page:
    """A staff page logged in with the PIN."""
    page = page_factory(layout)  # type: ignore[arg-type]
    page.goto(f"{rig.url}/staff?lang={lang}")
    page.locator("#pin").fill(STAFF_PIN)
    page.locator('.staff-form button[type="submit"]').tap()
    page.wait_for_selector("#orders-title")
    return page


@pytest.mark.parametrize("layout", ["portrait", "landscape"])
def test_staff_log_in_with_the_pin_in_either_language(
    page_factory: PageFactory, rig: KioskRig, layout: str
) -> None:
    page = page_factory(layout)  # type: ignore[arg-type]
    page.goto(f"{rig.url}/staff")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    record(page, "staff-login-zh", layout)
    page.locator('a[href="/staff?lang=en"]').tap()
    page.wait_for_selector('html[lang="en"]')
    assert page.get_by_role("heading", name="Staff login").is_visible()
    record(page, "staff-login-en", layout)

    page.locator("#pin").fill("0000")
    page.locator('.staff-form button[type="submit"]').tap()
    error = page.locator('[role="alert"]')
    error.wait_for()
    assert error.inner_text().strip(), "a wrong PIN says why"
    assert page.locator("#orders-title").count() == 0
    record(page, "staff-login-wrong-en", layout)

    page.locator("#pin").fill(STAFF_PIN)
    page.locator('.staff-form button[type="submit"]').tap()
    page.wait_for_selector("#orders-title")
    record(page, "staff-en", layout)
    page.locator('a[href="/staff?lang=zh"]').tap()
    page.wait_for_selector('html[lang="zh-CN"]')
    assert page.get_by_role("heading", name="今日订单", exact=False).is_visible()
    record(page, "staff-zh", layout)


def test_an_item_marked_sold_out_shows_sold_out_on_the_customers_menu_at_once(
    page_factory: PageFactory, rig: KioskRig
) -> None:
    customer = open_kiosk(page_factory, rig, "portrait", "en")
    tap(customer, '[data-action="start"]')
    tap(customer, '[data-action="dining"][data-mode="eat_in"]')
    on_screen(customer, "menu")
    tap(customer, '[data-action="category"][data-id="sides"]')
    corn = customer.locator('[data-action="open_item"][data-id="corn"]')
    corn.wait_for()
    assert corn.get_attribute("aria-disabled") is None

    staff = staff_page(page_factory, rig)
    staff.get_by_role("button", name="Mark sold out: Sweet corn").tap()
    staff.get_by_role("button", name="Back on sale: Sweet corn").wait_for()
    assert "Saved." in staff.locator('[role="status"]').inner_text()

    customer.wait_for_selector('[data-action="open_item"][data-id="corn"][aria-disabled="true"]')
    assert "Sold out" in corn.inner_text()
    record(customer, "menu-sold-out-en", "portrait")
    corn.tap(force=True)  # a customer touches it anyway
    customer.wait_for_selector(".notice")
    assert customer.locator(".notice").inner_text() == "Sorry, that item is sold out"
    on_screen(customer, "menu")

    staff.get_by_role("button", name="Back on sale: Sweet corn").tap()
    staff.get_by_role("button", name="Mark sold out: Sweet corn").wait_for()
    customer.wait_for_selector('[data-action="open_item"][data-id="corn"]:not([aria-disabled])')


def test_an_order_paid_by_wallet_code_is_refunded_once_from_the_staff_screen(
    page_factory: PageFactory, rig: KioskRig
) -> None:
    customer = open_kiosk(page_factory, rig, "landscape", "en")
    order_a_meal(customer)
    to_payment(customer, "wallet")
    rig.show_wallet_code()
    on_screen(customer, "paid", timeout_ms=PAYMENT_WAIT_MS)
    rig.camera.show_nothing()
    order = rig.screen()["order"]
    tap(customer, '[data-action="finish"]')

    first = staff_page(page_factory, rig)
    second = staff_page(page_factory, rig, "portrait")  # loaded before the refund
    row = first.locator(f'tr[data-order="{order["order_id"]}"]')
    assert "Paid" in row.inner_text()
    row.get_by_role("button", name=f"Refund {order['number']}").tap()
    notice = first.locator('[role="status"]')
    notice.wait_for()
    assert notice.inner_text().strip() == f"Refunded order {order['number']}"
    row = first.locator(f'tr[data-order="{order["order_id"]}"]')
    assert "Refunded" in row.inner_text()
    assert row.get_by_role("button").count() == 0, "a refunded order offers no second refund"
    record(first, "staff-refunded-en", "landscape")

    second.locator(f'tr[data-order="{order["order_id"]}"]').get_by_role(
        "button", name=f"Refund {order['number']}").tap()
    again = second.locator('[role="status"]')
    again.wait_for()
    assert again.inner_text().strip() == f"Already refunded: order {order['number']}"
    refunds = [event for event in rig.events if event.type == "payment.refunded"
               and event.attributes["order_id"] == order["order_id"]]
    assert len(refunds) == 1, "one refund, not two"
