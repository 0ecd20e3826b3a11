"""The kiosk's staff screen over HTTP: the PIN gate and its lockout, the session cookie, today's
orders, refunds through the gateway (idempotent) and sold-out marks the customer sees."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from terminal.kiosk.order_states import KioskState
from terminal.kiosk.staff import LOCKOUT_S, MAX_FAILURES
from tests.kiosk_support import STAFF_PIN, KioskRig, kiosk_config, kiosk_rig
from tests.test_kiosk_flow import clocked_rig, reset, to_payment, wait_until


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskRig]:
    """One kiosk for the module."""
    with kiosk_rig(tmp_path_factory.mktemp("kiosk-staff"),
                   config=kiosk_config(qr_poll_s=0.1)) as kiosk:
        yield kiosk


@pytest.fixture
def kiosk(rig: KioskRig) -> Iterator[KioskRig]:
    """The shared kiosk on its attract screen."""
    reset(rig)
    yield rig
    reset(rig)


def login(rig: KioskRig, pin: str = STAFF_PIN, *,
          session: requests.Session | None = None) -> tuple[requests.Session, requests.Response]:
    """Post the PIN form; returns the browser session and the redirect it got."""
    session = session or requests.Session()
    response = session.post(f"{rig.url}/staff/login?lang=en", data={"pin": pin}, timeout=10,
                            allow_redirects=False)
    return session, response


def redirect_query(response: requests.Response) -> dict[str, str]:
    """The query of a staff redirect (msg or error)."""
    assert response.status_code == 303, response.text[:200]
    location = urlsplit(response.headers["Location"])
    assert location.path == "/staff"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def paid_by(rig: KioskRig, method: str) -> str:
    """Place and pay one egg tart by ``method`` ("wallet" or "qr"); returns the order id."""
    order_id = to_payment(rig, method, item_id="egg-tart")
    if method == "wallet":
        rig.show_wallet_code("rider-good")
    else:
        rig.phone_pays_screen_qr()
    wait_until(lambda: rig.app.flow.state is KioskState.PAID)
    rig.camera.show_nothing()
    rig.app.flow.act("finish")
    return order_id


def test_without_a_pin_the_staff_screen_stays_closed(tmp_path: Path) -> None:
    config = kiosk_config()
    assert config.kiosk is not None
    config = replace(config, kiosk=replace(config.kiosk, staff_pin=""))
    with kiosk_rig(tmp_path, config=config) as rig:
        page = requests.get(f"{rig.url}/staff?lang=en", timeout=10)
        assert page.status_code == 200 and 'name="pin"' not in page.text
        assert "turned off" in page.text.lower() or "closed" in page.text.lower()
        session, response = login(rig, "")
        assert redirect_query(response)["error"] == "disabled"
        assert not session.cookies


def test_the_right_pin_sets_a_strict_http_only_cookie_for_the_staff_path(
        kiosk: KioskRig) -> None:
    session, response = login(kiosk)
    assert redirect_query(response) == {"lang": "en"}
    cookie = response.headers["Set-Cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/staff" in cookie
    page = session.get(f"{kiosk.url}/staff?lang=en", timeout=10)
    assert 'name="pin"' not in page.text and "no-store" in page.headers["Cache-Control"]
    assert requests.get(f"{kiosk.url}/staff?lang=en", timeout=10).text.count('name="pin"') == 1
    session.post(f"{kiosk.url}/staff/logout", timeout=10, allow_redirects=False)
    assert 'name="pin"' in session.get(f"{kiosk.url}/staff", timeout=10).text


def test_wrong_pins_lock_the_gate_and_the_lock_lifts_later(tmp_path: Path) -> None:
    with clocked_rig(tmp_path) as (rig, mono, _wall):
        for _ in range(MAX_FAILURES):
            _, response = login(rig, "0000")
            assert redirect_query(response)["error"] == "wrong_pin"
        _, response = login(rig)  # even the right PIN waits now
        query = redirect_query(response)
        assert query["error"] == "locked_out" and query["v_s"] == str(int(LOCKOUT_S))
        shown = requests.get(f"{rig.url}{response.headers['location']}", timeout=10).text
        assert f"Too many wrong PINs. Try again in {int(LOCKOUT_S)} s." in shown
        mono.advance(LOCKOUT_S)
        session, response = login(rig)
        assert "error" not in redirect_query(response) and session.cookies


def test_a_staff_session_expires(tmp_path: Path) -> None:
    from terminal.kiosk.staff import SESSION_S

    with clocked_rig(tmp_path) as (rig, mono, _wall):
        session, _ = login(rig)
        assert 'name="pin"' not in session.get(f"{rig.url}/staff", timeout=10).text
        mono.advance(SESSION_S + 1)
        assert 'name="pin"' in session.get(f"{rig.url}/staff", timeout=10).text


def test_staff_actions_need_a_session_and_the_kiosks_own_origin(kiosk: KioskRig) -> None:
    order_id = paid_by(kiosk, "wallet")
    response = requests.post(f"{kiosk.url}/staff/refund", data={"order": order_id},
                             timeout=10, allow_redirects=False)
    assert redirect_query(response)["error"] == "relogin"
    session, _ = login(kiosk)
    response = session.post(f"{kiosk.url}/staff/refund", data={"order": order_id}, timeout=10,
                            allow_redirects=False, headers={"Origin": "http://evil.example"})
    assert "error" in redirect_query(response)
    response = session.post(f"{kiosk.url}/staff/sold-out", data={"item": "cola",
                                                                 "sold_out": "1"},
                            timeout=10, allow_redirects=False,
                            headers={"Origin": "http://evil.example"})
    assert "error" in redirect_query(response)
    assert kiosk.app.orders.get(order_id).status == "paid"
    assert "cola" not in kiosk.app.orders.sold_out()


def test_todays_orders_are_listed_with_takings(kiosk: KioskRig) -> None:
    order_id = paid_by(kiosk, "qr")
    session, _ = login(kiosk)
    page = session.get(f"{kiosk.url}/staff?lang=en", timeout=10).text
    assert f'data-order="{order_id}"' in page
    number = kiosk.app.orders.get(order_id).label
    row = page.split(f'data-order="{order_id}"', 1)[1].split("</tr>", 1)[0]
    assert f"<td>{number}</td>" in row and "1× Egg Tart" in row and "¥7.50" in row
    paid = sum(o.total_minor for o in kiosk.app.orders.today() if o.status == "paid")
    assert f"¥{paid // 100}.{paid % 100:02d}" in page.split("</h2>", 1)[0]


def test_a_wallet_paid_order_is_refunded_once_through_the_gateway(kiosk: KioskRig) -> None:
    order_id = paid_by(kiosk, "wallet")
    charge_id = kiosk.app.orders.get(order_id).charge_id
    session, _ = login(kiosk)
    page = session.get(f"{kiosk.url}/staff?lang=en", timeout=10).text
    row = page.split(f'data-order="{order_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'action="/staff/refund' in row
    first = session.post(f"{kiosk.url}/staff/refund?lang=en", data={"order": order_id},
                         timeout=10, allow_redirects=False)
    order = kiosk.app.orders.get(order_id)
    assert redirect_query(first)["msg"] == f"refunded:{order.label}"
    assert order.status == "refunded" and order.refund_id
    again = session.post(f"{kiosk.url}/staff/refund?lang=en", data={"order": order_id},
                         timeout=10, allow_redirects=False)
    assert redirect_query(again)["msg"] == f"already_refunded:{order.label}"
    assert kiosk.app.orders.get(order_id).refund_id == order.refund_id
    refunds = [e for e in kiosk.events if e.type == "payment.refunded"
               and e.attributes["order_id"] == order_id]
    assert len(refunds) == 1
    assert refunds[0].attributes["refund_id"] == order.refund_id
    assert refunds[0].attributes["charge_id"] == charge_id
    # The gateway gives the same refund for the same order: no second payout.
    repeat = kiosk.app.gateway.refund(charge_id, _money(order), f"refund:{order_id}")
    assert repeat.refund_id == order.refund_id
    shown = session.get(f"{kiosk.url}/staff?lang=en", timeout=10).text
    row = shown.split(f'data-order="{order_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'action="/staff/refund' not in row


def _money(order: object) -> object:
    from payments.money import Money

    return Money(order.total_minor, order.currency)  # type: ignore[attr-defined]


def test_a_phone_paid_order_is_refunded_from_the_operators_console(kiosk: KioskRig) -> None:
    order_id = paid_by(kiosk, "qr")
    session, _ = login(kiosk)
    page = session.get(f"{kiosk.url}/staff?lang=en", timeout=10).text
    row = page.split(f'data-order="{order_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'action="/staff/refund' not in row
    response = session.post(f"{kiosk.url}/staff/refund?lang=en", data={"order": order_id},
                            timeout=10, allow_redirects=False)
    assert redirect_query(response)["error"] == "phone_paid"
    shown = session.get(f"{kiosk.url}{response.headers['location']}", timeout=10).text
    assert "refund it from the operator&#39;s console" in shown
    assert kiosk.app.orders.get(order_id).status == "paid"


def test_an_order_that_was_not_paid_cannot_be_refunded(kiosk: KioskRig) -> None:
    order_id = to_payment(kiosk, "qr", item_id="egg-tart")
    kiosk.app.flow.act("cancel_payment")
    kiosk.app.flow.act("cancel")
    session, _ = login(kiosk)
    for order in (order_id, "K-no-such-order"):
        response = session.post(f"{kiosk.url}/staff/refund", data={"order": order},
                                timeout=10, allow_redirects=False)
        assert "error" in redirect_query(response)
    assert kiosk.app.orders.get(order_id).status == "voided"


def test_a_sold_out_mark_shows_on_the_customers_menu_and_comes_off_again(
        kiosk: KioskRig) -> None:
    session, _ = login(kiosk)
    flow = kiosk.app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    flow.act("category", {"id": "drinks"})

    def cola_available() -> bool:
        items = {i["id"]: i for i in kiosk.screen()["menu"]["items"]}
        return bool(items["cola"]["available"])

    assert cola_available()
    response = session.post(f"{kiosk.url}/staff/sold-out?lang=en",
                            data={"item": "cola", "sold_out": "1"}, timeout=10,
                            allow_redirects=False)
    assert redirect_query(response)["msg"] == "saved"
    assert not cola_available()
    page = requests.get(f"{kiosk.url}/", timeout=10).text
    assert "cola" in page
    session.post(f"{kiosk.url}/staff/sold-out", data={"item": "cola", "sold_out": "0"},
                 timeout=10, allow_redirects=False)
    assert cola_available()
    response = session.post(f"{kiosk.url}/staff/sold-out", data={"item": "caviar",
                                                                 "sold_out": "1"},
                            timeout=10, allow_redirects=False)
    assert redirect_query(response)["error"] == "unknown_item"


def test_an_oversize_staff_form_is_refused(kiosk: KioskRig) -> None:
    session, _ = login(kiosk)
    response = session.post(f"{kiosk.url}/staff/sold-out", data={"item": "x" * 5000},
                            timeout=10, allow_redirects=False)
    assert "error" in redirect_query(response)


def test_refund_clicks_that_race_give_one_refund_and_one_event(kiosk: KioskRig) -> None:
    import threading

    order_id = paid_by(kiosk, "wallet")
    barrier = threading.Barrier(4)
    results: list[object] = []

    def click() -> None:
        barrier.wait()
        results.append(kiosk.app.refund(order_id))

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refund_ids = {r.refund_id for r in results}  # type: ignore[attr-defined]
    assert len(results) == 4 and len(refund_ids) == 1
    assert sorted(r.already for r in results) == [False, True, True, True]  # type: ignore
    events = [e for e in kiosk.events if e.type == "payment.refunded"
              and e.attributes["order_id"] == order_id]
    assert len(events) == 1


def test_a_crafted_link_cannot_put_its_own_words_on_the_staff_screen(kiosk: KioskRig) -> None:
    page = requests.get(f"{kiosk.url}/staff", params={
        "lang": "en", "error": "Call 555-0100 for a refund", "v_order": "<b>x</b>"},
        timeout=10).text
    assert "555-0100" not in page and "<b>x</b>" not in page
    assert "That did not work. Please try again." in page
    page = requests.get(f"{kiosk.url}/staff", params={"lang": "zh", "error": "wrong_pin"},
                        timeout=10).text
    assert "PIN 错误。" in page
