"""`scanpay emulate --device kiosk`: whole kiosk orders paid through the dev panel's controls.

The order is placed with the kiosk page's own tap API; the panel shows a person's fresh payment
code to the kiosk camera, or plays the customer's phone paying the kiosk's on-screen QR.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from terminal.emulator.site import EmulatorSite
from tests.test_emulate_panel import JSON, Pushes


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorSite]:
    with EmulatorSite("kiosk", state_dir=tmp_path_factory.mktemp("kiosk"), clips=[]) as site:
        yield site


@pytest.fixture
def screen(kiosk: EmulatorSite) -> Iterator[Pushes]:
    pushes = Pushes(f"{kiosk.device_url}/events")
    yield pushes
    pushes.close()
    for link in kiosk.links.values():
        link.set_online(True)


def _tap(site: EmulatorSite, action: str, **args: str) -> None:
    answer = requests.post(f"{site.device_url}/action", json={"action": action, "args": args},
                           timeout=30)
    assert answer.status_code == 204, (action, answer.text)


def _screen(site: EmulatorSite) -> dict[str, Any]:
    return dict(requests.get(f"{site.device_url}/screen.json", timeout=10).json())


def _order_a_drink(site: EmulatorSite, method: str) -> dict[str, Any]:
    state = _screen(site)["state"]
    if state != "attract":
        _tap(site, "finish" if state == "paid" else "cancel")
    _tap(site, "start")
    _tap(site, "dining", mode="take_out")
    _tap(site, "category", id="drinks")
    item = _screen(site)["menu"]["items"][0]["id"]
    _tap(site, "open_item", id=item)
    _tap(site, "add_item")
    _tap(site, "open_cart")
    _tap(site, "checkout")
    _tap(site, "pay", method=method)
    return _screen(site)


def _finished(site: EmulatorSite, pushes: Pushes) -> dict[str, Any]:
    return dict(pushes.until(lambda: (s := _screen(site))["state"] != "paying" and s,
                             "the payment to finish"))


def test_the_kiosk_panel_offers_the_phone_and_no_lock(kiosk: EmulatorSite) -> None:
    page = requests.get(kiosk.panel_url, timeout=10).text
    assert "Scan the kiosk's QR and pay" in page
    assert "Close the lock" not in page
    state = requests.get(f"{kiosk.panel_url}/api/state", timeout=10).json()
    assert state["device"] == "kiosk" and state["lock"] is None
    refused = requests.post(f"{kiosk.panel_url}/lock", data={"action": "open"}, headers=JSON,
                            timeout=10)
    assert refused.status_code == 400 and "has no lock" in refused.json()["error"]


def test_a_whole_order_paid_with_a_wallet_code_shown_from_the_panel(
        kiosk: EmulatorSite, screen: Pushes) -> None:
    paying = _order_a_drink(kiosk, "wallet")
    assert paying["state"] == "paying" and paying["pay"]["stage"] == "scanning"
    shown = requests.post(f"{kiosk.panel_url}/camera",
                          data={"source": "code", "subject": "rider-good"}, headers=JSON,
                          timeout=30)
    assert shown.json() == {"ok": True}
    done = _finished(kiosk, screen)
    assert done["state"] == "paid" and done["order"]["paid_with"] == "wallet"
    log = requests.get(f"{kiosk.panel_url}/api/state", timeout=10).json()["log"]
    assert "payment.captured" in [entry["kind"] for entry in log]


def test_a_whole_order_paid_by_the_phone_scanning_the_kiosk_qr(
        kiosk: EmulatorSite, screen: Pushes) -> None:
    early = requests.post(f"{kiosk.panel_url}/phone", headers=JSON, timeout=30)
    if _screen(kiosk)["state"] != "paying":
        assert early.status_code == 400 and "no payment QR" in early.json()["error"]
    paying = _order_a_drink(kiosk, "qr")
    assert paying["pay"]["qr_svg"]
    assert requests.post(f"{kiosk.panel_url}/phone", headers=JSON, timeout=30).json() == {
        "ok": True}
    done = _finished(kiosk, screen)
    assert done["state"] == "paid" and done["order"]["paid_with"] == "qr"
    log = requests.get(f"{kiosk.panel_url}/api/state", timeout=10).json()["log"]
    assert log[0]["kind"] == "order.paid"


def test_the_screen_qr_is_read_back_exactly(tmp_path: Path) -> None:
    from terminal.emulator.phone import scan_screen_qr
    from terminal.kiosk.qr_pay import qr_svg

    payload = "000201010212" + "X" * 60
    assert scan_screen_qr(qr_svg(payload)) == payload


# -- Smile to Pay with real face clips (need ../shared; skipped without it) ----------------------


@pytest.fixture(scope="module")
def face_kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorSite]:
    from terminal.emulator.panel.sources import faces_video_dir, find_clips
    from terminal.emulator.smile_demo import ENROLL_CLIP, PAY_CLIP, shared_faces_dir

    for clip in (ENROLL_CLIP, PAY_CLIP):
        if not (shared_faces_dir() / clip).is_file():
            pytest.skip(f"EyeBlink8 clips not found under {shared_faces_dir()} "
                        "(set SCANPAY_SHARED)")
    clips = [c for c in find_clips(faces_video_dir())
             if c.name in ("eyeblink8/video1_blink00.mp4", "eyeblink8/video1_blink05.mp4")]
    with EmulatorSite("kiosk", state_dir=tmp_path_factory.mktemp("faces"),
                      clips=clips) as site:
        enrolled = requests.post(f"{site.panel_url}/enroll", headers=JSON, timeout=120,
                                 data={"subject": "rider-good",
                                       "clip": "eyeblink8/video1_blink00.mp4"})
        assert enrolled.json() == {"ok": True}
        yield site


def _pay_by_face(site: EmulatorSite, pushes: Pushes, source: str) -> dict[str, Any]:
    assert _order_a_drink(site, "face")["state"] == "paying"
    shown = requests.post(f"{site.panel_url}/camera", headers=JSON, timeout=30,
                          data={"source": source, "clip": "eyeblink8/video1_blink05.mp4"})
    assert shown.json() == {"ok": True}

    def settled() -> dict[str, Any] | None:
        screen = _screen(site)
        if (screen.get("pay") or {}).get("digits_asked"):
            for digit in "5678":  # the enrolled phone number's last four digits
                _tap(site, "key", digit=digit)
            _tap(site, "submit_digits")
            return None
        return screen if screen["state"] != "paying" else None

    return dict(pushes.until(settled, "the face payment to finish"))


@pytest.mark.shared
def test_a_customer_from_a_clip_pays_by_face_through_the_panel(face_kiosk: EmulatorSite) -> None:
    pushes = Pushes(f"{face_kiosk.device_url}/events")
    try:
        done = _pay_by_face(face_kiosk, pushes, "customer")
    finally:
        pushes.close()
    assert done["state"] == "paid" and done["order"]["paid_with"] == "face"
    kinds = [e["kind"] for e in
             requests.get(f"{face_kiosk.panel_url}/api/state", timeout=10).json()["log"]]
    assert {"face.verified", "payment.captured", "face_enrolled"} <= set(kinds)


@pytest.mark.shared
def test_a_phone_screen_showing_the_customer_never_pays(face_kiosk: EmulatorSite) -> None:
    pushes = Pushes(f"{face_kiosk.device_url}/events")
    try:
        done = _pay_by_face(face_kiosk, pushes, "screen")
    finally:
        pushes.close()
    assert done["state"] == "failed"
    assert done["failure"]["reasons"]
