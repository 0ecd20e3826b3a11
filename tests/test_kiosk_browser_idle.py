"""The kiosk's idle timer in a real headless Chromium: after a short time without a tap the
screen asks "still there?" with a countdown; a tap keeps the order, no answer goes back to the
start with the order gone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import PageFactory
from tests.kiosk_support import KioskRig, kiosk_config, kiosk_rig
from tests.test_kiosk_browser import LAYOUTS, back_to_start, on_screen, open_kiosk, record, tap

IDLE_S = 1.5
STILL_THERE_S = 3.0
STILL_THERE = '.overlay[role="alertdialog"]'


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskRig]:
    """A kiosk that asks "still there?" after 1.5 s and gives up 3 s later."""
    config = kiosk_config(idle_s=IDLE_S, still_there_s=STILL_THERE_S)
    with kiosk_rig(tmp_path_factory.mktemp("kiosk"), config=config) as running:
        yield running
        back_to_start(running)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_still_there_keeps_the_order_on_a_tap_and_starts_over_without_one(
    page_factory: PageFactory, rig: KioskRig, layout: str
) -> None:
    lang = "en" if layout == "landscape" else "zh"
    page = open_kiosk(page_factory, rig, layout, lang)
    tap(page, '[data-action="start"]')
    tap(page, '[data-action="dining"][data-mode="take_out"]')
    on_screen(page, "menu")
    tap(page, '[data-action="category"][data-id="desserts"]')
    tap(page, '[data-action="open_item"][data-id="egg-tart"]')
    on_screen(page, "item")
    tap(page, '[data-action="add_item"]')
    on_screen(page, "menu")

    dialog = page.locator(STILL_THERE)
    dialog.wait_for(timeout=(IDLE_S + 5) * 1000)
    assert page.evaluate("document.activeElement.dataset.action") == "still_here"
    assert any(ch.isdigit() for ch in page.locator("#still-body").inner_text()), "a countdown"
    record(page, f"still-there-{lang}", layout)
    tap(page, '[data-action="still_here"]')
    dialog.wait_for(state="detached")
    on_screen(page, "menu")
    assert rig.screen()["cart"]["count"] == 1, "the order is kept"

    dialog.wait_for(timeout=(IDLE_S + 5) * 1000)
    on_screen(page, "attract", timeout_ms=int((STILL_THERE_S + 5) * 1000))
    assert page.locator(STILL_THERE).count() == 0
    assert rig.screen()["cart"]["count"] == 0, "the next customer starts with nothing"
