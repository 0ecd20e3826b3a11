"""The kiosk in a real headless Chromium: an order from the attract screen to the receipt, paid
by face (with the last four phone digits on the on-screen keypad), by the wallet's payment code
and by the kiosk's own QR; a failed payment with its reason and a way back; what the browser
keeps about a face (nothing); tap latency and the time to a usable menu (recorded, not asserted).

Every screen passed is checked with axe-core and written as a screenshot in the layout under
test. The page fixture fails the test on any console error. The helpers at the top (tap, wait
for a screen, walk to the cart, put the kiosk back to the start) are shared with the other
``test_kiosk_browser_*`` modules.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser import (
    PageFactory,
    artifacts_dir,
    browser_storage_report,
    check_axe,
    screenshot,
    small_touch_targets,
    tap_latency_ms,
)
from tests.kiosk_support import KioskRig, kiosk_rig
from tests.smile_synth import Person

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response

LAYOUTS = ("portrait", "landscape")
PAYMENT_WAIT_MS = 30_000  # a whole Smile-to-Pay attempt on 2 busy cores, with room to spare
HTML_LANG = {"zh": "zh-CN", "en": "en"}


# -- shared steps ------------------------------------------------------------------------------


def tap(page: Page, selector: str) -> None:
    """Touch the one control matching ``selector``."""
    page.locator(selector).tap()


def on_screen(page: Page, state: str, *, timeout_ms: int = 10_000) -> None:
    """Wait until the pushed screen is ``state`` (e.g. "menu", "paid")."""
    page.wait_for_selector(f'#screen > [data-state="{state}"]', timeout=timeout_ms)


def record(page: Page, name: str, layout: str) -> None:
    """Check the screen shown now with axe-core and keep its screenshot; targets >= 48 px."""
    check_axe(page, name)
    screenshot(page, name, layout)  # type: ignore[arg-type]
    assert small_touch_targets(page) == [], f"controls under 48 px on {name}"


def open_kiosk(page_factory: PageFactory, rig: KioskRig, layout: str, lang: str = "zh") -> Page:
    """A customer's page on the attract screen, in ``lang``."""
    back_to_start(rig)
    page = page_factory(layout)  # type: ignore[arg-type]
    page.goto(rig.url)
    on_screen(page, "attract")
    choose_language(page, lang)
    return page


def choose_language(page: Page, lang: str) -> None:
    """Switch the screen to ``lang`` ("zh" or "en") unless it is shown in it already."""
    wanted = HTML_LANG[lang]
    if page.evaluate("document.documentElement.lang") != wanted:
        tap(page, '[data-action="lang"]')
        page.wait_for_selector(f'html[lang="{wanted}"]')


def back_to_start(rig: KioskRig) -> None:
    """Whatever the last test left, the kiosk waits on the attract screen with nobody in view."""
    rig.step_in(None)
    rig.camera.show_nothing()
    flow = rig.app.flow
    leave = {"paying": "cancel_payment", "paid": "finish", "enroll": "enroll_done"}
    for _ in range(4):
        state = flow.state.value
        if state == "attract":
            flow.act("lang", {"lang": flow.settings.language})
            return
        flow.act(leave.get(state, "cancel"))
    raise AssertionError(f"the kiosk did not return to the start from {flow.state.value}")


def order_a_meal(page: Page, layout: str = "", *, lang: str = "") -> None:
    """From the attract screen to the cart with one burger meal in it (recording each screen
    as ``<screen>-<lang>`` when ``layout`` is given)."""

    def seen(name: str) -> None:
        if layout:
            record(page, f"{name}-{lang}", layout)

    seen("attract")
    tap(page, '[data-action="start"]')
    on_screen(page, "dining")
    seen("dining")
    tap(page, '[data-action="dining"][data-mode="eat_in"]')
    on_screen(page, "menu")
    seen("menu")
    tap(page, '[data-action="open_item"][data-id="crunch-burger-meal"]')
    on_screen(page, "item")
    seen("item")
    tap(page, '[data-action="add_item"]')
    on_screen(page, "menu")
    page.wait_for_selector(".notice")
    tap(page, '[data-action="open_cart"]')
    on_screen(page, "cart")
    seen("cart")


def to_payment(page: Page, method: str) -> None:
    """From the cart, pay with ``method`` ("face", "wallet" or "qr")."""
    tap(page, '[data-action="checkout"]')
    on_screen(page, "pay_choice")
    tap(page, f'[data-action="pay"][data-method="{method}"]')
    on_screen(page, "paying")


def camera_shown(page: Page) -> None:
    """Wait until the live camera view shows a frame."""
    page.wait_for_function("(document.getElementById('preview') || {}).naturalWidth > 0")


def type_digits(page: Page, digits: str, *, typed: int = 0, enroll: bool = False) -> None:
    """Type ``digits`` on the on-screen keypad (``typed`` already there), each key shown on
    screen before the next is touched; ``enroll`` picks the enrollment's keypad."""
    key = '[data-action="enroll_step"][data-step="key"]' if enroll else '[data-action="key"]'
    for count, digit in enumerate(digits, start=typed + 1):
        tap(page, f'{key}[data-digit="{digit}"]')
        page.wait_for_selector(f'.typed[data-typed="{count}"]')


def save_timings(**numbers: Any) -> Path:
    """Merge ``numbers`` into ``<artifacts>/kiosk-timings.json`` (read by the closing note)."""
    path = artifacts_dir() / "kiosk-timings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data.update(numbers)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


# -- this module's kiosk -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskRig]:
    """One kiosk for the module, with rider-good's face enrolled (phone ending 1234)."""
    with kiosk_rig(tmp_path_factory.mktemp("kiosk")) as running:
        running.enroll()
        yield running
        back_to_start(running)


def receipt_text(page: Page) -> str:
    return page.locator(".receipt").inner_text()


# -- paying --------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_order_paid_by_face_with_the_last_four_phone_digits(
    page_factory: PageFactory, rig: KioskRig, layout: str
) -> None:
    lang = "zh" if layout == "portrait" else "en"
    page = open_kiosk(page_factory, rig, layout, lang)
    camera_headers: list[dict[str, str]] = []

    def on_response(response: Response) -> None:
        if response.url.endswith("/camera.mjpg"):
            camera_headers.append(response.headers)

    page.on("response", on_response)
    order_a_meal(page, layout, lang=lang)
    to_payment(page, "face")
    camera_shown(page)
    page.wait_for_selector(".face-guide")
    record(page, f"face-look-{lang}", layout)

    seen_at = time.monotonic()
    rig.step_in(Person())
    page.wait_for_selector('.keypad, [data-state="failed"]', timeout=PAYMENT_WAIT_MS)
    asked_at = time.monotonic()
    assert rig.screen()["state"] == "paying", rig.screen().get("failure")
    assert page.locator("#preview").count() == 0, "the camera view stays up behind the keypad"
    record(page, f"face-keypad-{lang}", layout)
    type_digits(page, "12")
    tap(page, '[data-action="backspace"]')
    page.wait_for_selector('.typed[data-typed="1"]')
    type_digits(page, "234", typed=1)
    assert page.locator("#live").inner_text() == {"zh": "已输入 4 位",
                                                  "en": "4 digit(s) typed"}[lang]
    typed_at = time.monotonic()
    tap(page, '[data-action="submit_digits"]')
    on_screen(page, "paid", timeout_ms=PAYMENT_WAIT_MS)
    paid_at = time.monotonic()
    rig.step_in(None)
    record(page, f"paid-face-{lang}", layout)

    order = rig.screen()["order"]
    assert order["paid_with"] == "face" and order["status"] == "paid"
    assert page.locator(".order-number").inner_text() == order["number"]
    receipt = receipt_text(page)
    assert order["lines"][0]["text"] in receipt and order["total_text"] in receipt
    assert page.locator(".receipt-qr svg").count() == 1

    # Nothing about the face stays in the page or the browser once the payment is over.
    assert camera_headers, "the camera preview was never requested"
    for headers in camera_headers:
        assert "no-store" in headers.get("cache-control", "")
    assert page.locator("#preview, img[src*='camera']").count() == 0
    stored = browser_storage_report(page)
    assert {key: stored[key] for key in ("local_storage", "session_storage", "indexed_db",
                                         "cache_storage", "opfs", "service_workers",
                                         "cookies")} == {
        "local_storage": [], "session_storage": [], "indexed_db": [], "cache_storage": [],
        "opfs": [], "service_workers": [], "cookies": []}
    assert stored["usage_bytes"] == 0, stored["usage_breakdown"]
    save_timings(**{f"face_seen_to_digits_asked_s_{layout}": round(asked_at - seen_at, 3),
                    f"digits_submitted_to_paid_s_{layout}": round(paid_at - typed_at, 3)})


@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_order_paid_by_wallet_code_and_the_same_code_again_fails_with_a_way_back(
    page_factory: PageFactory, rig: KioskRig, layout: str
) -> None:
    lang = "en" if layout == "portrait" else "zh"
    page = open_kiosk(page_factory, rig, layout, lang)
    order_a_meal(page)
    to_payment(page, "wallet")
    camera_shown(page)
    record(page, f"wallet-show-{lang}", layout)
    code = rig.show_wallet_code()
    on_screen(page, "paid", timeout_ms=PAYMENT_WAIT_MS)
    rig.camera.show_nothing()  # the customer puts the phone away...
    assert rig.screen()["order"]["paid_with"] == "wallet"
    record(page, f"paid-wallet-{lang}", layout)
    tap(page, '[data-action="finish"]')
    on_screen(page, "attract")

    # The same code again (a screenshot of it, or the phone not refreshed): refused.
    choose_language(page, lang)  # the next customer starts in the kiosk's own language
    order_a_meal(page)
    to_payment(page, "wallet")
    rig.camera.show_code(code, label="the code that already paid")  # ...and shows it again
    on_screen(page, "failed", timeout_ms=PAYMENT_WAIT_MS)
    rig.camera.show_nothing()
    record(page, f"failed-wallet-{lang}", layout)
    reasons = page.locator(".reasons li")
    assert reasons.count() >= 1
    assert page.locator('.reasons li[data-code="code_already_used"]').count() == 1
    words = page.locator('.reasons li[data-code="code_already_used"]').inner_text()
    assert words == {"en": "That payment code was already used. Refresh it in your app.",
                     "zh": "付款码已被使用，请在应用中刷新。"}[lang]
    assert page.locator(".failure").inner_text().count("\n") >= 3  # why, and what to do next
    assert page.get_by_role("button", name={"en": "Back to your order",
                                            "zh": "返回订单"}[lang]).is_visible()
    tap(page, '[data-action="back_to_cart"]')
    on_screen(page, "cart")
    assert page.locator(".cart-line").count() == 1, "the order is still there to pay again"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_order_paid_by_the_kiosks_qr_updates_the_screen_by_itself(
    page_factory: PageFactory, rig: KioskRig, layout: str
) -> None:
    lang = "zh" if layout == "portrait" else "en"
    page = open_kiosk(page_factory, rig, layout, lang)
    order_a_meal(page)
    page.evaluate("window.__sameDocument = true")
    to_payment(page, "qr")
    qr = page.locator(".qr-box svg")
    qr.wait_for()
    box = qr.bounding_box()
    assert box is not None and min(box["width"], box["height"]) >= 320, box
    shown = int(page.locator(".countdown-n").inner_text())
    assert 0 < shown <= rig.config.kiosk.qr_expiry_s  # type: ignore[union-attr]
    record(page, f"qr-{lang}", layout)
    page.wait_for_function(f"+document.querySelector('.countdown-n').textContent < {shown}")
    rig.phone_pays_screen_qr()
    on_screen(page, "paid", timeout_ms=PAYMENT_WAIT_MS)
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    assert rig.screen()["order"]["paid_with"] == "qr"
    record(page, f"paid-qr-{lang}", layout)


def test_a_photo_held_up_for_smile_to_pay_fails_with_the_reason_and_next_steps(
    page_factory: PageFactory, rig: KioskRig
) -> None:
    page = open_kiosk(page_factory, rig, "portrait", "en")
    order_a_meal(page)
    to_payment(page, "face")
    rig.step_in(Person(flat=True))
    on_screen(page, "failed", timeout_ms=PAYMENT_WAIT_MS)
    rig.step_in(None)
    record(page, "failed-face-en", "portrait")
    codes = page.locator(".reasons li").evaluate_all("(els) => els.map((e) => e.dataset.code)")
    assert codes and "face_verified" not in codes
    failure = page.locator(".failure").inner_text()
    assert "What you can do" in failure and "Nothing was charged." in failure
    assert "_" not in page.locator(".reasons").inner_text(), "a reason code shown raw"
    assert page.locator("#preview").count() == 0
    tap(page, '[data-action="back_to_cart"]')
    on_screen(page, "cart")
    assert page.locator(".cart-line").count() == 1


def test_a_customer_who_does_not_follow_the_prompt_sees_it_large_then_the_reason(
    page_factory: PageFactory, rig: KioskRig
) -> None:
    page = open_kiosk(page_factory, rig, "landscape", "en")
    order_a_meal(page)
    to_payment(page, "face")
    rig.step_in(Person(responsive=False))
    page.locator(".prompt-icon").wait_for(timeout=PAYMENT_WAIT_MS)
    shown = page.evaluate("""() => { const text = document.querySelector('.prompt-text');
        return {icon: document.querySelector('.prompt-icon').getAttribute('src'),
                text: text.innerText, px: parseFloat(getComputedStyle(text).fontSize)}; }""")
    action = shown["icon"].removeprefix("/static/icons/").removesuffix(".svg")
    assert shown["text"] == {"smile": "Please smile", "blink": "Please blink",
                             "turn_left": "Please turn your head to the left",
                             "turn_right": "Please turn your head to the right"}[action]
    assert shown["px"] >= 40, "the prompt is large text"
    record(page, "face-prompt-en", "landscape")
    on_screen(page, "failed", timeout_ms=PAYMENT_WAIT_MS)
    rig.step_in(None)
    record(page, "failed-face-en", "landscape")
    assert "_" not in page.locator(".reasons").inner_text(), "a reason code shown raw"
    assert page.locator('[data-action="pay"][data-method="face"]').is_visible(), "try again"
    assert page.locator('[data-action="other_method"]').is_visible()


# -- choices -------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_required_choice_left_out_shows_its_error_on_that_group(
    page_factory: PageFactory, rig: KioskRig, layout: str
) -> None:
    lang = "en" if layout == "portrait" else "zh"
    page = open_kiosk(page_factory, rig, layout, lang)
    tap(page, '[data-action="start"]')
    tap(page, '[data-action="dining"][data-mode="take_out"]')
    on_screen(page, "menu")
    tap(page, '[data-action="open_item"][data-id="family-bucket"]')
    on_screen(page, "item")
    tap(page, '[data-action="add_item"]')
    group = page.locator("#group-bucket-sides")
    group.locator('[role="alert"]').wait_for()
    assert "has-error" in (group.get_attribute("class") or "")
    assert page.locator(".group.has-error").count() == 1, "only the group that is missing"
    assert page.locator("#group-meal-drink [role='alert']").count() == 0
    record(page, f"item-error-{lang}", layout)
    tap(page, '#group-bucket-sides [data-option="corn"]')
    tap(page, '#group-bucket-sides [data-option="fries"]')
    page.wait_for_selector('#group-bucket-sides [data-option="fries"][aria-pressed="true"]')
    assert page.locator(".group.has-error").count() == 0
    tap(page, '[data-action="add_item"]')
    on_screen(page, "menu")
    assert rig.screen()["cart"]["count"] == 1


def test_a_choice_far_down_a_long_item_keeps_its_place_and_add_stays_in_reach(
    page_factory: PageFactory, rig: KioskRig
) -> None:
    page = open_kiosk(page_factory, rig, "landscape", "en")
    tap(page, '[data-action="start"]')
    tap(page, '[data-action="dining"][data-mode="eat_in"]')
    on_screen(page, "menu")
    tap(page, '[data-action="open_item"][data-id="crunch-burger-meal"]')
    on_screen(page, "item")
    add = page.locator('[data-action="add_item"]')
    assert add.is_visible() and add.evaluate(
        "(el) => el.getBoundingClientRect().bottom <= innerHeight"), "Add needs no scrolling"
    body = page.locator(".dialog-body")
    assert body.evaluate("(el) => el.scrollHeight > el.clientHeight"), "a long item scrolls"
    body.evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    upsize = page.locator('[data-group="meal-upsize"][data-option="upsize"]')
    upsize.tap()
    page.wait_for_selector('[data-group="meal-upsize"][data-option="upsize"][aria-pressed="true"]')
    assert body.evaluate("(el) => el.scrollTop") > 0, "the list jumped back to its top"
    assert page.locator(".item-head .price").inner_text() == "¥39.00"
    add.tap()
    on_screen(page, "menu")
    assert rig.screen()["cart"]["total_minor"] == 3900


# -- performance (recorded, never asserted) ------------------------------------------------------


def test_tap_latency_and_time_to_a_usable_menu_are_recorded(
    page_factory: PageFactory, rig: KioskRig
) -> None:
    back_to_start(rig)
    flow = rig.app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    page = page_factory("landscape")
    started = time.monotonic()
    page.goto(rig.url)
    page.wait_for_function("document.readyState === 'complete'"
                           " && !!document.querySelector('.item-card')")
    menu_ready_ms = page.evaluate("performance.now()")
    load_wall_ms = (time.monotonic() - started) * 1000

    latencies = []
    for index in range(20):
        target = ("burgers", "drinks")[index % 2]
        latencies.append(tap_latency_ms(
            page, f'[data-action="category"][data-id="{target}"]',
            f'[data-action="category"][data-id="{target}"][aria-pressed="true"]'))
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * len(latencies)) - 1)]
    path = save_timings(tap_to_screen_ms={"taps": len(latencies),
                                          "median": round(statistics.median(latencies), 1),
                                          "p95": round(p95, 1),
                                          "max": round(latencies[-1], 1)},
                        menu_usable_ms={"page_clock": round(menu_ready_ms, 1),
                                        "from_goto": round(load_wall_ms, 1)})
    assert len(latencies) == 20 and all(ms > 0 for ms in latencies)
    assert path.is_file()
