"""Every kiosk screen in both languages, in a real headless Chromium: the language switch on each
screen changes the words and the page's ``lang``; axe-core finds no serious or critical problem
in either language; consented Smile-to-Pay enrollment from the payment screen, step by step,
after which the new face pays.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser import PageFactory
from tests.kiosk_support import KioskRig, kiosk_rig
from tests.smile_synth import Person
from tests.test_kiosk_browser import (
    HTML_LANG,
    LAYOUTS,
    PAYMENT_WAIT_MS,
    back_to_start,
    camera_shown,
    choose_language,
    on_screen,
    open_kiosk,
    record,
    tap,
    type_digits,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

OTHER = {"zh": "en", "en": "zh"}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskRig]:
    """One kiosk for the module; nobody is enrolled for Smile to Pay yet."""
    with kiosk_rig(tmp_path_factory.mktemp("kiosk")) as running:
        yield running
        back_to_start(running)


def words(page: Page) -> str:
    """The visible words of the screen (without the language button, which names the other)."""
    return page.locator("#screen").evaluate(
        "(el) => { const copy = el.cloneNode(true);"
        " copy.querySelectorAll('[data-action=lang]').forEach((b) => b.remove());"
        " return copy.innerText.replace(/\\s+/g, ' ').trim(); }")


def both_languages(page: Page, name: str, layout: str, lang: str) -> str:
    """Record the screen in ``lang``, switch with its own button, check that the words and the
    page's ``lang`` changed, record it again; returns the language now shown."""
    state = page.locator("#screen > [data-state]").get_attribute("data-state")
    assert page.evaluate("document.documentElement.lang") == HTML_LANG[lang]
    record(page, f"{name}-{lang}", layout)
    before = words(page)
    other = OTHER[lang]
    in_dialog = page.locator('.overlay [data-action="lang"]')
    tap(page, '.overlay [data-action="lang"]' if in_dialog.count() else '[data-action="lang"]')
    page.wait_for_selector(f'html[lang="{HTML_LANG[other]}"]')
    on_screen(page, state or "")
    after = words(page)
    assert after != before, f"the words on {name} did not change"
    if other == "en":
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in after), f"Chinese left on {name}"
    record(page, f"{name}-{other}", layout)
    return other


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_screen_switches_language_and_passes_axe_in_both(
    page_factory: PageFactory, rig: KioskRig, layout: str
) -> None:
    lang = "zh"
    page = open_kiosk(page_factory, rig, layout, lang)
    lang = both_languages(page, "attract", layout, lang)
    tap(page, '[data-action="start"]')
    on_screen(page, "dining")
    lang = both_languages(page, "dining", layout, lang)
    tap(page, '[data-action="dining"][data-mode="take_out"]')
    on_screen(page, "menu")
    lang = both_languages(page, "menu", layout, lang)
    tap(page, '[data-action="category"][data-id="drinks"]')
    page.wait_for_selector('[data-action="category"][data-id="drinks"][aria-pressed="true"]')
    tap(page, '[data-action="open_item"][data-id="cola"]')
    on_screen(page, "item")
    lang = both_languages(page, "item", layout, lang)
    tap(page, '[data-action="add_item"]')
    on_screen(page, "menu")
    tap(page, '[data-action="open_cart"]')
    on_screen(page, "cart")
    lang = both_languages(page, "cart", layout, lang)
    tap(page, '[data-action="checkout"]')
    on_screen(page, "pay_choice")
    lang = both_languages(page, "pay_choice", layout, lang)

    tap(page, '[data-action="pay"][data-method="face"]')
    on_screen(page, "paying")
    camera_shown(page)
    lang = both_languages(page, "face-look", layout, lang)
    tap(page, '[data-action="cancel_payment"]')
    on_screen(page, "pay_choice")

    tap(page, '[data-action="pay"][data-method="wallet"]')
    on_screen(page, "paying")
    camera_shown(page)
    lang = both_languages(page, "wallet-show", layout, lang)
    rig.camera.show_code("https://example.com/menu", label="a restaurant's menu link")
    on_screen(page, "failed", timeout_ms=PAYMENT_WAIT_MS)
    rig.camera.show_nothing()
    lang = both_languages(page, "failed-wallet", layout, lang)

    tap(page, '[data-action="other_method"]')
    on_screen(page, "pay_choice")
    tap(page, '[data-action="pay"][data-method="qr"]')
    on_screen(page, "paying")
    page.wait_for_selector(".qr-box svg")
    lang = both_languages(page, "qr", layout, lang)
    rig.phone_pays_screen_qr()
    on_screen(page, "paid", timeout_ms=PAYMENT_WAIT_MS)
    lang = both_languages(page, "paid-qr", layout, lang)
    tap(page, '[data-action="finish"]')
    on_screen(page, "attract")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_enrollment_from_the_payment_screen_then_the_new_face_pays(
    page_factory: PageFactory, rig: KioskRig, layout: str
) -> None:
    lang = "en" if layout == "portrait" else "zh"
    page = open_kiosk(page_factory, rig, layout, lang)
    tap(page, '[data-action="start"]')
    tap(page, '[data-action="dining"][data-mode="eat_in"]')
    on_screen(page, "menu")
    tap(page, '[data-action="category"][data-id="desserts"]')
    tap(page, '[data-action="open_item"][data-id="egg-tart"]')
    on_screen(page, "item")
    tap(page, '[data-action="add_item"]')
    on_screen(page, "menu")
    tap(page, '[data-action="open_cart"]')
    tap(page, '[data-action="checkout"]')
    on_screen(page, "pay_choice")

    tap(page, '[data-action="enroll"]')
    on_screen(page, "enroll")
    page.wait_for_selector("#consent-title")
    assert page.locator("#preview").count() == 0, "no camera before consent"
    lang = both_languages(page, "enroll-consent", layout, lang)
    tap(page, '[data-action="enroll_step"][data-step="agree"]')
    page.wait_for_selector(".keypad")
    record(page, f"enroll-phone-{lang}", layout)
    type_digits(page, "13800001234", enroll=True)
    tap(page, '[data-action="enroll_step"][data-step="submit"]')
    camera_shown(page)
    record(page, f"enroll-code-{lang}", layout)
    rig.show_wallet_code("rider-good")
    page.wait_for_selector(".face-guide", timeout=PAYMENT_WAIT_MS)
    rig.camera.show_nothing()
    rig.step_in(Person())
    record(page, f"enroll-capture-{lang}", layout)
    page.wait_for_selector('[data-enroll-step="done"], [data-enroll-step="failed"]',
                           timeout=PAYMENT_WAIT_MS)
    rig.step_in(None)
    assert rig.screen()["enroll"]["step"] == "done", rig.screen()["enroll"]
    assert page.locator("#preview").count() == 0
    record(page, f"enroll-done-{lang}", layout)
    tap(page, '[data-action="enroll_done"]')
    on_screen(page, "pay_choice")

    # The face just enrolled pays for the order waiting on the payment screen.
    tap(page, '[data-action="pay"][data-method="face"]')
    on_screen(page, "paying")
    rig.step_in(Person())
    page.wait_for_selector('.keypad, [data-state="failed"]', timeout=PAYMENT_WAIT_MS)
    assert rig.screen()["state"] == "paying", rig.screen().get("failure")
    type_digits(page, "1234")
    tap(page, '[data-action="submit_digits"]')
    on_screen(page, "paid", timeout_ms=PAYMENT_WAIT_MS)
    rig.step_in(None)
    assert rig.screen()["order"]["paid_with"] == "face"


def test_declining_enrollment_records_nothing_and_goes_back_to_paying(
    page_factory: PageFactory, rig: KioskRig
) -> None:
    page = open_kiosk(page_factory, rig, "portrait", "zh")
    flow = rig.app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    flow.act("open_item", {"id": "corn"})
    flow.act("add_item")
    flow.act("open_cart")
    flow.act("checkout")
    on_screen(page, "pay_choice")
    tap(page, '[data-action="enroll"]')
    page.wait_for_selector("#consent-title")
    tap(page, '[data-action="enroll_step"][data-step="decline"]')
    page.wait_for_selector('[data-enroll-step="declined"]')
    choose_language(page, "en")
    assert "Nothing was recorded." in page.locator("#screen").inner_text()
    record(page, "enroll-declined-en", "portrait")
    tap(page, '[data-action="enroll_done"]')
    on_screen(page, "pay_choice")
