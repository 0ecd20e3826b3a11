"""The kiosk's order flow end to end: the state table, the menu and cart rules, all three ways
to pay through the real back end, idle and receipt timers, and enrollment at the kiosk.

Two kinds of kiosk: one on real clocks shared by the module (face, wallet code and a phone
paying the screen's QR, with the flow reset by ``cancel``/``finish`` between tests), and one per
test on clocks the test moves (idle, QR expiry, voids, the receipt timer): its back end reads
the same wall clock, and its ticker never runs on its own, so the test calls ``tick()``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from backend.server import BackendServer
from hardware.emulated.switchable_camera import SwitchableCamera
from payments.money import Money
from payments.qr.generate import MerchantAccount, make_dynamic_mpm
from terminal.config.schema import FaceSection
from terminal.emulator.session import Emulator
from terminal.errors import FlowError
from terminal.kiosk.app import KioskApp
from terminal.kiosk.order_states import TRANSITIONS, KioskState
from tests.kiosk_support import PHONE, KioskRig, PersonSensor, kiosk_config, kiosk_rig, wait_until
from tests.smile_synth import Person


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.now += seconds




def events_of(rig: KioskRig, kind: str) -> list[Any]:
    """The events of type ``kind`` the kiosk emitted so far."""
    return [e for e in rig.events if e.type == kind]


def reset(rig: KioskRig) -> None:
    """Back to the attract screen, whatever the last test left."""
    flow = rig.app.flow
    rig.camera.show_nothing()
    rig.step_in(None)
    if flow.state is KioskState.PAYING:
        flow.act("cancel_payment")
    if flow.state is KioskState.PAID:
        flow.act("finish")
    elif flow.state is not KioskState.ATTRACT:
        flow.act("cancel")
    assert flow.state is KioskState.ATTRACT


def order_item(rig: KioskRig, item_id: str = "crunch-burger-meal", *,
               choices: dict[str, list[str]] | None = None, quantity: int = 1) -> None:
    """From the attract screen: eat in, add ``item_id`` (default choices) and open the cart."""
    flow = rig.app.flow
    if flow.state is KioskState.ATTRACT:
        flow.act("start")
        flow.act("dining", {"mode": "eat_in"})
    elif flow.state is KioskState.CART:
        flow.act("back_to_menu")
    flow.act("open_item", {"id": item_id})
    for group, options in (choices or {}).items():
        for option in options:
            flow.act("toggle_option", {"group": group, "option": option})
    flow.act("add_item", {"quantity": str(quantity)})
    assert flow.state is KioskState.MENU, flow.snapshot().get("item")
    flow.act("open_cart")


def to_payment(rig: KioskRig, method: str, item_id: str = "crunch-burger-meal") -> str:
    """Order one ``item_id`` and start paying by ``method``; returns the order id."""
    order_item(rig, item_id)
    rig.app.flow.act("checkout")
    rig.app.flow.act("pay", {"method": method})
    assert rig.app.flow.state is KioskState.PAYING
    return str(rig.screen()["order"]["order_id"])


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskRig]:
    """A kiosk on real clocks with rider-good's face enrolled (shared by the module)."""
    with kiosk_rig(tmp_path_factory.mktemp("kiosk"), config=kiosk_config(qr_poll_s=0.1)) as kiosk:
        kiosk.enroll("rider-good", seed=1, phone=PHONE)
        yield kiosk


@pytest.fixture
def kiosk(rig: KioskRig) -> Iterator[KioskRig]:
    """The shared kiosk, back on its attract screen before and after the test."""
    reset(rig)
    yield rig
    reset(rig)


@contextmanager
def clocked_rig(tmp_path: Path, **kiosk: Any) -> Iterator[tuple[KioskRig, FakeClock, FakeClock]]:
    """A kiosk and its back end on clocks the test moves: (rig, monotonic, wall)."""
    mono, wall = FakeClock(10_000.0), FakeClock(time.time())
    config = kiosk_config(**kiosk)
    config = replace(config, face=replace(config.face or FaceSection(), embed_workers=0))
    with ExitStack() as stack:
        (tmp_path / "backend").mkdir(parents=True, exist_ok=True)
        emulator = Emulator(config, state_dir=tmp_path / "backend")
        emulator.server = BackendServer(replace(emulator.server.settings, clock=wall))
        stack.enter_context(emulator)
        camera = SwitchableCamera(size=(640, 480), fps=15.0)
        events: list[Any] = []
        sensors: list[PersonSensor] = []

        def sensor_factory(face: FaceSection, clock: Any) -> PersonSensor:
            sensors.append(PersonSensor(1, clock=clock))
            return sensors[-1]

        app = KioskApp(config, emulator.endpoints(), state_dir=tmp_path / "kiosk", camera=camera,
                       port=0, on_event=events.append, sensor_factory=sensor_factory,
                       clock=mono, wall_clock=wall, tick_s=3600.0)
        stack.enter_context(app)
        yield KioskRig(config, emulator, app, camera, sensors, events), mono, wall


# -- the state table -------------------------------------------------------------------------


def test_every_state_of_the_table_is_reachable_from_the_attract_screen() -> None:
    reachable, frontier = {KioskState.ATTRACT}, [KioskState.ATTRACT]
    while frontier:
        state = frontier.pop()
        for (source, _event), target in TRANSITIONS.items():
            if source is state and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(KioskState)


def test_a_visit_walks_through_every_screen(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    seen = [flow.state]
    flow.act("start")
    seen.append(flow.state)
    flow.act("dining", {"mode": "take_out"})
    seen.append(flow.state)
    flow.act("open_item", {"id": "egg-tart"})
    seen.append(flow.state)
    flow.act("add_item")
    flow.act("open_cart")
    seen.append(flow.state)
    flow.act("checkout")
    seen.append(flow.state)
    flow.act("enroll")
    seen.append(flow.state)
    flow.act("enroll_done")
    flow.act("pay", {"method": "wallet"})
    seen.append(flow.state)
    kiosk.camera.show_code("not a payment code at all")
    wait_until(lambda: flow.state is not KioskState.PAYING)
    seen.append(flow.state)
    kiosk.camera.show_nothing()
    flow.act("pay", {"method": "qr"})
    kiosk.phone_pays_screen_qr()
    wait_until(lambda: flow.state is KioskState.PAID)
    seen.append(flow.state)
    assert set(seen) == set(KioskState)


@pytest.mark.parametrize(("action", "args"), [
    ("checkout", {}), ("pay", {"method": "qr"}), ("add_item", {}), ("key", {"digit": "1"}),
    ("open_cart", {}), ("finish", {}), ("cancel", {}), ("enroll_done", {}),
    ("cancel_payment", {}), ("inc", {"line": "L1"}),
])
def test_an_action_the_attract_screen_does_not_offer_raises(kiosk: KioskRig, action: str,
                                                            args: dict[str, str]) -> None:
    with pytest.raises(FlowError):
        kiosk.app.flow.act(action, args)
    assert kiosk.app.flow.state is KioskState.ATTRACT


def test_an_unknown_action_raises_and_changes_nothing(kiosk: KioskRig) -> None:
    before = kiosk.screen()
    with pytest.raises(FlowError, match="unknown action 'fly'"):
        kiosk.app.flow.act("fly")
    assert kiosk.screen() == before


def test_bad_arguments_are_refused_with_one_line(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    flow.act("start")
    with pytest.raises(FlowError, match="eat_in or take_out"):
        flow.act("dining", {"mode": "drive_through"})
    with pytest.raises(FlowError, match="language"):
        flow.act("lang", {"lang": "fr"})
    flow.act("dining", {"mode": "eat_in"})
    with pytest.raises(FlowError):
        flow.act("open_item", {"id": "caviar"})
    with pytest.raises(FlowError):
        flow.act("category", {"id": "wines"})
    flow.act("open_item", {"id": "crunch-burger"})
    with pytest.raises(FlowError, match="quantity"):
        flow.act("add_item", {"quantity": "lots"})
    with pytest.raises(FlowError, match=r"1\.\.20"):
        flow.act("add_item", {"quantity": "21"})
    with pytest.raises(FlowError):
        flow.act("toggle_option", {"group": "meal-drink", "option": "cola"})
    assert flow.cart.lines == ()


# -- menu and item --------------------------------------------------------------------------


def test_a_required_choice_left_empty_is_shown_on_its_group_and_nothing_is_added(
        kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    flow.act("open_item", {"id": "family-bucket"})
    flow.act("add_item")
    screen = kiosk.screen()
    assert screen["state"] == "item"
    errors = {g["id"]: g["error"] for g in screen["item"]["groups"]}
    assert errors["bucket-sides"] == "choice_required"
    assert errors["meal-drink"] == ""
    assert screen["cart"]["count"] == 0
    flow.act("toggle_option", {"group": "bucket-sides", "option": "corn"})
    flow.act("add_item")
    errors = {g["id"]: g["error"] for g in kiosk.screen()["item"]["groups"]}
    assert errors["bucket-sides"] == "too_few"
    flow.act("toggle_option", {"group": "bucket-sides", "option": "fries"})
    flow.act("add_item")
    screen = kiosk.screen()
    assert screen["state"] == "menu" and screen["notice"] == "added"
    assert screen["cart"]["count"] == 1


def test_a_group_takes_no_more_than_its_max_choices(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    flow.act("open_item", {"id": "crunch-burger"})
    for option in ("cheese", "bacon", "jalapenos", "no-onion"):
        flow.act("toggle_option", {"group": "burger-extras", "option": option})
    groups = {g["id"]: g for g in kiosk.screen()["item"]["groups"]}
    extras = groups["burger-extras"]
    assert extras["error"] == "too_many"
    assert [o["id"] for o in extras["options"] if o["selected"]] == ["cheese", "bacon",
                                                                    "jalapenos"]
    flow.act("toggle_option", {"group": "burger-extras", "option": "bacon"})
    flow.act("toggle_option", {"group": "burger-extras", "option": "no-onion"})
    extras = {g["id"]: g for g in kiosk.screen()["item"]["groups"]}["burger-extras"]
    assert extras["error"] == ""
    flow.act("add_item")
    line = kiosk.screen()["cart"]["lines"][0]
    assert line["unit_minor"] == 1950 + 200 + 150  # burger, cheese, jalapeños


def test_a_single_required_choice_is_changed_never_emptied(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    flow.act("open_item", {"id": "drumstick-meal"})
    flow.act("toggle_option", {"group": "meal-drink", "option": "cola"})  # tap the selected one
    flow.act("toggle_option", {"group": "meal-drink", "option": "orange-juice"})
    drink = {g["id"]: g for g in kiosk.screen()["item"]["groups"]}["meal-drink"]
    assert [o["id"] for o in drink["options"] if o["selected"]] == ["orange-juice"]
    assert kiosk.screen()["item"]["price_text"] == "¥35.00"  # 32.00 + 3.00 for the juice


def test_an_item_off_the_menu_cannot_be_opened(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    flow.act("category", {"id": "desserts"})
    sundae = {i["id"]: i for i in kiosk.screen()["menu"]["items"]}["sundae"]
    assert sundae["available"] is False
    flow.act("open_item", {"id": "sundae"})
    screen = kiosk.screen()
    assert screen["state"] == "menu" and screen["notice"] == "sold_out"


def test_an_item_staff_marked_sold_out_cannot_be_opened(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    kiosk.app.orders.set_sold_out("egg-tart", True)
    try:
        flow.refresh_sold_out()
        flow.act("start")
        flow.act("dining", {"mode": "eat_in"})
        flow.act("category", {"id": "desserts"})
        tart = {i["id"]: i for i in kiosk.screen()["menu"]["items"]}["egg-tart"]
        assert tart["available"] is False
        flow.act("open_item", {"id": "egg-tart"})
        assert kiosk.screen()["notice"] == "sold_out" and flow.state is KioskState.MENU
    finally:
        kiosk.app.orders.set_sold_out("egg-tart", False)
        flow.refresh_sold_out()


def test_sold_out_while_in_the_cart_refuses_checkout_with_a_notice(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    order_item(kiosk, "egg-tart")
    kiosk.app.orders.set_sold_out("egg-tart", True)
    try:
        flow.refresh_sold_out()
        assert kiosk.screen()["cart"]["lines"][0]["available"] is False
        flow.act("checkout")
        screen = kiosk.screen()
        assert screen["state"] == "cart" and screen["notice"] == "sold_out_in_cart"
        flow.act("inc", {"line": screen["cart"]["lines"][0]["line_id"]})
        assert kiosk.screen()["notice"] == "sold_out"
        assert kiosk.screen()["cart"]["lines"][0]["quantity"] == 1
    finally:
        kiosk.app.orders.set_sold_out("egg-tart", False)
        flow.refresh_sold_out()


def test_sold_out_after_checkout_is_caught_before_paying(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    order_item(kiosk, "egg-tart")
    flow.act("checkout")
    kiosk.app.orders.set_sold_out("egg-tart", True)
    try:
        flow.refresh_sold_out()
        flow.act("pay", {"method": "qr"})
        screen = kiosk.screen()
        assert screen["state"] == "cart" and screen["notice"] == "sold_out_in_cart"
        assert "order" not in screen
    finally:
        kiosk.app.orders.set_sold_out("egg-tart", False)
        flow.refresh_sold_out()


# -- totals, tax, cart ----------------------------------------------------------------------


def test_included_tax_is_shown_inside_the_total_in_minor_units(kiosk: KioskRig) -> None:
    order_item(kiosk, "crunch-burger-meal", choices={"meal-drink": ["orange-juice"]},
               quantity=2)
    cart = kiosk.screen()["cart"]
    assert cart["lines"][0]["unit_minor"] == 3800
    assert (cart["subtotal_minor"], cart["total_minor"]) == (7600, 7600)
    # 6% included: 7600 * 600 / 10600 = 430.19 -> 430
    assert cart["tax_minor"] == 430 and cart["tax_included"] is True
    assert (cart["total_text"], cart["tax_text"]) == ("¥76.00", "¥4.30")
    assert all(isinstance(cart[k], int) for k in ("subtotal_minor", "tax_minor",
                                                  "total_minor"))


def test_added_tax_is_on_top_of_the_subtotal(tmp_path: Path) -> None:
    config = kiosk_config(tax_included=False, tax_rate_bp=825)
    with kiosk_rig(tmp_path, config=config) as rig:
        order_item(rig, "egg-tart", quantity=3)
        cart = rig.screen()["cart"]
        # 2250 * 8.25% = 185.625 -> 186, added
        assert (cart["subtotal_minor"], cart["tax_minor"], cart["total_minor"]) == (
            2250, 186, 2436)
        assert cart["tax_included"] is False and cart["tax_rate_text"] == "8.25%"
        rig.app.flow.act("checkout")
        rig.app.flow.act("pay", {"method": "qr"})
        assert rig.screen()["order"]["total_minor"] == 2436


def test_cart_quantities_go_up_down_and_out_within_their_caps(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    order_item(kiosk, "egg-tart", quantity=19)
    order_item(kiosk, "corn")
    lines = kiosk.screen()["cart"]["lines"]
    tart, corn = lines[0]["line_id"], lines[1]["line_id"]
    flow.act("inc", {"line": tart})
    assert kiosk.screen()["cart"]["lines"][0]["quantity"] == 20
    flow.act("inc", {"line": tart})
    screen = kiosk.screen()
    assert screen["cart"]["lines"][0]["quantity"] == 20
    assert screen["notice"] == "quantity_limit"
    flow.act("dec", {"line": tart})
    assert kiosk.screen()["cart"]["lines"][0]["quantity"] == 19
    flow.act("dec", {"line": corn})  # 1 -> 0 takes the line out
    assert [ln["line_id"] for ln in kiosk.screen()["cart"]["lines"]] == [tart]
    flow.act("remove", {"line": tart})
    assert kiosk.screen()["cart"]["lines"] == []
    with pytest.raises(FlowError, match="no cart line"):
        flow.act("inc", {"line": tart})


def test_an_empty_cart_cannot_check_out(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    flow.act("open_cart")
    flow.act("checkout")
    screen = kiosk.screen()
    assert screen["state"] == "cart" and screen["notice"] == "cart_empty"
    assert kiosk.app.flow.visit.order is None


# -- paying through the real back end ---------------------------------------------------------


def test_the_phone_pays_the_screen_qr_and_the_receipt_is_shown(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    order_id = to_payment(kiosk, "qr")
    pay = kiosk.screen()["pay"]
    assert pay["qr_svg"].startswith("<svg") and pay["expires_at"] > time.time()
    kiosk.phone_pays_screen_qr()
    wait_until(lambda: flow.state is KioskState.PAID)
    screen = kiosk.screen()
    order = screen["order"]
    assert order["order_id"] == order_id and order["status"] == "paid"
    assert order["paid_with"] == "qr" and order["number"].isdigit()
    assert [ln["quantity"] for ln in order["lines"]] == [1]
    assert screen["receipt_qr"].startswith("<svg") and order["number"] in screen["receipt_qr"]
    assert kiosk.app.orders.get(order_id).status == "paid"
    paid = [e for e in events_of(kiosk, "order.paid") if e.attributes["order_id"]
            == f"{order_id}P1"]
    assert len(paid) == 1 and paid[0].attributes["amount_minor"] == order["total_minor"]
    assert screen["cart"]["count"] == 0


def test_the_receipt_qr_carries_the_receipt_or_the_operators_url(tmp_path: Path) -> None:
    from terminal.kiosk.receipt import receipt_payload

    with kiosk_rig(tmp_path) as rig:
        order_id = to_payment(rig, "qr")
        rig.phone_pays_screen_qr()
        wait_until(lambda: rig.app.flow.state is KioskState.PAID)
        order = rig.app.orders.get(order_id)
        text = receipt_payload(order, rig.app.settings)
        assert text.splitlines()[0] == "ScanPay Kitchen"
        assert f"Order {order.label} ({order_id})" in text
        assert "1 x Crunch Burger Meal" in text and "Total ¥35.00 CNY" in text
        assert text.splitlines()[-1] == "Paid: Kiosk QR"
        with_url = replace(rig.app.settings, receipt_url="https://r.example/{order_id}")
        assert receipt_payload(order, with_url) == f"https://r.example/{order_id}"


def test_a_wallet_code_shown_to_the_camera_pays(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    order_id = to_payment(kiosk, "wallet")
    assert kiosk.screen()["pay"]["stage"] == "scanning"
    kiosk.show_wallet_code("rider-good")
    wait_until(lambda: flow.state is not KioskState.PAYING)
    order = kiosk.screen()["order"]
    assert flow.state is KioskState.PAID, kiosk.screen().get("failure")
    assert order["paid_with"] == "wallet" and order["charge_id"]
    assert kiosk.app.orders.get(order_id).charge_id == order["charge_id"]
    captured = [e for e in events_of(kiosk, "payment.captured")
                if e.attributes["order_id"] == f"{order_id}P1"]
    assert captured and captured[0].attributes["charge_id"] == order["charge_id"]


def test_the_same_wallet_code_on_the_next_order_is_refused_as_already_used(
        kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    to_payment(kiosk, "wallet")
    code = kiosk.show_wallet_code("rider-good")
    wait_until(lambda: flow.state is KioskState.PAID)
    kiosk.camera.show_nothing()
    flow.act("finish")
    to_payment(kiosk, "wallet")
    kiosk.camera.show_code(code, label="the same code again")
    wait_until(lambda: flow.state is not KioskState.PAYING)
    screen = kiosk.screen()
    assert screen["state"] == "failed"
    reasons = screen["failure"]["reasons"]
    assert [r["code"] for r in reasons] == ["code_already_used"]
    assert "already used" in reasons[0]["text"]
    assert screen["order"]["status"] == "failed" and screen["order"]["charge_id"] is None


def test_a_code_of_another_scheme_is_not_accepted(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    to_payment(kiosk, "wallet")
    merchant = MerchantAccount(name="OTHER SHOP", city="SHANGHAI", country="CN",
                               gui="com.example.pay", account_id="shop42")
    other = make_dynamic_mpm(merchant, Money(100, "CNY"), "REF1", int(time.time()) + 600)
    kiosk.camera.show_code(other, label="another scheme's merchant code")
    wait_until(lambda: flow.state is not KioskState.PAYING)
    reasons = kiosk.screen()["failure"]["reasons"]
    assert [r["code"] for r in reasons] == ["scheme_not_accepted"]
    assert events_of(kiosk, "code.rejected")


def test_smile_to_pay_asks_the_last_four_digits_and_pays(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    order_id = to_payment(kiosk, "face")  # 35.00 is above the no-digits limit
    kiosk.step_in(Person())
    wait_until(lambda: (kiosk.screen().get("pay") or {}).get("stage") == "digits"
               or flow.state is not KioskState.PAYING)
    pay = kiosk.screen()["pay"]
    assert pay["digits_asked"] == "last4" and pay["prompt_id"] == "face.digits.last4"
    kiosk.step_in(None)
    for digit in PHONE[-4:]:
        flow.act("key", {"digit": digit})
    assert kiosk.screen()["pay"]["typed"] == 4
    flow.act("submit_digits")
    assert flow.state is KioskState.PAID, kiosk.screen().get("failure")
    order = kiosk.screen()["order"]
    assert order["paid_with"] == "face" and order["charge_id"]
    assert kiosk.app.orders.get(order_id).status == "paid"


def test_a_flat_photo_is_refused_as_a_spoof(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    to_payment(kiosk, "face", item_id="egg-tart")
    kiosk.step_in(Person(flat=True))
    wait_until(lambda: flow.state is not KioskState.PAYING, timeout_s=30)
    screen = kiosk.screen()
    assert screen["state"] == "failed"
    assert [r["code"] for r in screen["failure"]["reasons"]] == ["spoof_suspected"]
    assert screen["order"]["charge_id"] is None


def test_cancelling_a_payment_returns_to_the_choice_and_charges_nothing(
        kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    order_id = to_payment(kiosk, "wallet")
    flow.act("cancel_payment")
    screen = kiosk.screen()
    assert screen["state"] == "pay_choice"
    assert kiosk.app.orders.get(order_id).charge_id is None
    kiosk.show_wallet_code("rider-good")  # shown too late: nobody reads it
    flow.act("pay", {"method": "qr"})
    assert kiosk.screen()["order"]["order_id"] == order_id
    flow.act("cancel_payment")
    assert kiosk.app.orders.get(order_id).status == "open"


def test_a_retry_with_another_method_reuses_the_same_order(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    before = len(kiosk.app.orders.today())
    order_id = to_payment(kiosk, "wallet")
    kiosk.camera.show_code("https://example.com/not-a-payment")
    wait_until(lambda: flow.state is KioskState.FAILED)
    kiosk.camera.show_nothing()
    assert kiosk.app.orders.get(order_id).status == "failed"
    flow.act("pay", {"method": "qr"})
    assert flow.visit.attempt == 2
    assert kiosk.screen()["order"]["order_id"] == order_id
    kiosk.phone_pays_screen_qr()  # pays reference <order>P2
    wait_until(lambda: flow.state is KioskState.PAID)
    assert len(kiosk.app.orders.today()) == before + 1
    assert kiosk.app.orders.get(order_id).status == "paid"
    assert any(e.attributes["order_id"] == f"{order_id}P2"
               for e in events_of(kiosk, "order.paid"))


def test_a_changed_cart_after_a_failure_gets_a_new_order(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    first = to_payment(kiosk, "qr")
    flow.act("cancel_payment")
    flow.act("back_to_cart")
    flow.act("inc", {"line": kiosk.screen()["cart"]["lines"][0]["line_id"]})
    flow.act("checkout")
    flow.act("pay", {"method": "qr"})
    second = kiosk.screen()["order"]["order_id"]
    assert second != first
    assert kiosk.app.orders.get(first).status == "voided"
    assert kiosk.app.orders.get(first).reason_codes == ("cart_changed",)
    assert flow.visit.attempt == 1


# -- timers on clocks the test moves ---------------------------------------------------------


def test_still_there_is_asked_after_idle_and_a_tap_dismisses_it(tmp_path: Path) -> None:
    with clocked_rig(tmp_path, idle_s=60.0, still_there_s=15.0) as (rig, mono, _wall):
        flow = rig.app.flow
        order_item(rig, "egg-tart")
        mono.advance(59.0)
        flow.tick()
        assert rig.screen()["still_there"] is False
        mono.advance(1.0)
        flow.tick()
        screen = rig.screen()
        assert screen["still_there"] is True and screen["seconds_left"] == 15
        mono.advance(5.0)
        flow.tick()
        assert rig.screen()["seconds_left"] == 10
        flow.act("still_here")
        screen = rig.screen()
        assert screen["still_there"] is False and screen["state"] == "cart"
        assert screen["cart"]["count"] == 1


def test_idle_returns_to_attract_and_voids_the_open_order(tmp_path: Path) -> None:
    with clocked_rig(tmp_path, idle_s=60.0, still_there_s=15.0) as (rig, mono, _wall):
        flow = rig.app.flow
        order_id = to_payment(rig, "qr")
        flow.act("cancel_payment")  # back on the payment choice with the order still open
        assert rig.app.orders.get(order_id).status == "open"
        mono.advance(60.0)
        flow.tick()
        assert rig.screen()["still_there"] is True
        mono.advance(15.0)
        flow.tick()
        screen = rig.screen()
        assert screen["state"] == "attract" and screen["cart"]["count"] == 0
        assert "order" not in screen
        order = rig.app.orders.get(order_id)
        assert order.status == "voided" and order.reason_codes == ("idle_timeout",)
        cancelled = [e for e in events_of(rig, "order.cancelled")
                     if e.attributes["order_id"] == order_id]  # the kiosk's order, not P1
        assert [e.attributes["reason"] for e in cancelled] == ["idle_timeout"]


def test_the_screen_qr_expires_and_the_payment_fails_with_qr_expired(tmp_path: Path) -> None:
    with clocked_rig(tmp_path, qr_expiry_s=30, qr_poll_s=1.0) as (rig, mono, wall):
        flow = rig.app.flow
        order_id = to_payment(rig, "qr")
        expires_at = rig.screen()["pay"]["expires_at"]
        assert expires_at == pytest.approx(wall() + 30)
        mono.advance(1.0)
        flow.tick()
        assert flow.state is KioskState.PAYING  # still payable
        wall.advance(31.0)
        mono.advance(1.0)
        flow.tick()
        screen = rig.screen()
        assert screen["state"] == "failed"
        assert [r["code"] for r in screen["failure"]["reasons"]] == ["qr_expired"]
        assert rig.app.orders.get(order_id).status == "failed"
        response = requests.post(
            f"{rig.emulator.server.url}/v1/dev/orders/{order_id}P1/pay", timeout=5,
            headers={"Authorization": f"Bearer {rig.emulator.api_key}"})
        assert response.status_code == 410  # the phone can no longer pay it


def test_a_phone_that_paid_just_before_cancel_is_kept_as_paid(tmp_path: Path) -> None:
    with clocked_rig(tmp_path) as (rig, _mono, _wall):
        flow = rig.app.flow
        order_id = to_payment(rig, "qr")
        rig.phone_pays_screen_qr()  # no poll has seen it yet
        flow.act("cancel_payment")
        screen = rig.screen()
        assert screen["state"] == "paid" and screen["order"]["status"] == "paid"
        assert rig.app.orders.get(order_id).paid_with == "qr"
        assert not events_of(rig, "order.cancelled")


def test_the_receipt_returns_to_attract_after_receipt_s(tmp_path: Path) -> None:
    with clocked_rig(tmp_path, receipt_s=20.0) as (rig, mono, _wall):
        flow = rig.app.flow
        to_payment(rig, "qr")
        rig.phone_pays_screen_qr()
        mono.advance(1.0)
        flow.tick()
        assert flow.state is KioskState.PAID
        mono.advance(19.5)
        flow.tick()
        assert flow.state is KioskState.PAID
        mono.advance(0.5)
        flow.tick()
        assert flow.state is KioskState.ATTRACT
        assert rig.screen()["cart"]["count"] == 0 and "order" not in rig.screen()


def test_nothing_is_pending_at_the_gateway_after_a_cancelled_screen_qr(tmp_path: Path) -> None:
    with clocked_rig(tmp_path) as (rig, _mono, _wall):
        order_id = to_payment(rig, "qr")
        rig.app.flow.act("cancel_payment")
        rig.app.flow.act("cancel")
        assert rig.app.orders.get(order_id).status == "voided"
        response = requests.post(
            f"{rig.emulator.server.url}/v1/dev/orders/{order_id}P1/pay", timeout=5,
            headers={"Authorization": f"Bearer {rig.emulator.api_key}"})
        assert response.status_code >= 400, "a voided order's QR can still be paid"


# -- enrollment at the kiosk ----------------------------------------------------------------


def enroll_screen(rig: KioskRig) -> dict[str, Any]:
    """The enrollment part of the screen."""
    return dict(rig.screen()["enroll"])


def to_enrollment(rig: KioskRig) -> None:
    """Order something and open enrollment from the payment choice."""
    order_item(rig, "egg-tart")
    rig.app.flow.act("checkout")
    rig.app.flow.act("enroll")
    assert enroll_screen(rig)["step"] == "consent"


def test_declining_consent_records_nothing(kiosk: KioskRig) -> None:
    before = len(events_of(kiosk, "face.enrolled"))
    to_enrollment(kiosk)
    kiosk.app.flow.act("enroll_step", {"step": "decline"})
    assert enroll_screen(kiosk)["step"] == "declined"
    assert kiosk.app.flow.wants_camera is False
    kiosk.app.flow.act("enroll_done")
    assert kiosk.app.flow.state is KioskState.PAY_CHOICE
    assert len(events_of(kiosk, "face.enrolled")) == before


def test_enrollment_with_consent_phone_code_and_face(tmp_path: Path) -> None:
    with kiosk_rig(tmp_path, face_seed=5) as rig:
        flow = rig.app.flow
        to_enrollment(rig)
        flow.act("enroll_step", {"step": "agree"})
        assert enroll_screen(rig)["step"] == "phone"
        for digit in "12345":
            flow.act("enroll_step", {"step": "key", "digit": digit})
        flow.act("enroll_step", {"step": "submit"})
        screen = enroll_screen(rig)
        assert screen["step"] == "phone" and screen["error"] == "phone_length"
        for digit in "678901":
            flow.act("enroll_step", {"step": "key", "digit": digit})
        flow.act("enroll_step", {"step": "submit"})
        assert enroll_screen(rig)["step"] == "code" and flow.wants_camera
        rig.step_in(Person())
        rig.show_wallet_code("rider-low")
        wait_until(lambda: enroll_screen(rig)["step"] != "code")
        rig.camera.show_nothing()
        wait_until(lambda: enroll_screen(rig)["step"] in ("done", "failed"), timeout_s=30)
        assert enroll_screen(rig)["step"] == "done", enroll_screen(rig)
        enrolled = events_of(rig, "face.enrolled")
        assert len(enrolled) == 1 and enrolled[0].subject_id == "rider-low"
        flow.act("enroll_done")
        assert flow.state is KioskState.PAY_CHOICE
        # The back end has the face: paying with it now finds rider-low.
        flow.act("pay", {"method": "face"})
        wait_until(lambda: flow.state is not KioskState.PAYING
                   or rig.screen()["pay"]["stage"] == "digits", timeout_s=30)
        if flow.state is KioskState.PAYING:  # the risk rule may ask for the phone's last 4
            rig.step_in(None)
            for digit in "8901":
                flow.act("key", {"digit": digit})
            flow.act("submit_digits")
        assert flow.state is KioskState.PAID, rig.screen().get("pay")
        assert rig.screen()["order"]["paid_with"] == "face"


def test_cancelling_enrollment_forgets_the_phone(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    to_enrollment(kiosk)
    flow.act("enroll_step", {"step": "agree"})
    for digit in "1380000":
        flow.act("enroll_step", {"step": "key", "digit": digit})
    assert enroll_screen(kiosk)["typed"] == 7
    flow.act("enroll_done")
    flow.act("enroll")
    screen = enroll_screen(kiosk)
    assert screen["step"] == "consent" and screen["typed"] == 0
    flow.act("enroll_step", {"step": "agree"})
    assert enroll_screen(kiosk)["typed"] == 0
    with pytest.raises(FlowError):
        flow.act("enroll_step", {"step": "agree"})


def test_a_failed_enrollment_says_why_with_a_reason_code_the_screen_knows(
        tmp_path: Path) -> None:
    from terminal.kiosk.web.texts import load_texts

    with kiosk_rig(tmp_path, face_seed=6) as rig:
        flow = rig.app.flow
        to_enrollment(rig)
        flow.act("enroll_step", {"step": "agree"})
        for digit in "13900001111":
            flow.act("enroll_step", {"step": "key", "digit": digit})
        flow.act("enroll_step", {"step": "submit"})
        rig.step_in(Person(flat=True))
        rig.show_wallet_code("rider-broke")
        wait_until(lambda: enroll_screen(rig)["step"] != "code")
        rig.camera.show_nothing()
        wait_until(lambda: enroll_screen(rig)["step"] in ("done", "failed"), timeout_s=30)
        screen = enroll_screen(rig)
        assert screen["step"] == "failed"
        texts = load_texts()
        assert all(texts.has(lang, f"reason.{screen['reason']}") for lang in ("zh", "en")), \
            screen["reason"]
        assert not events_of(rig, "face.enrolled")


def test_a_failure_after_a_long_payment_is_shown_before_the_idle_timer_runs(
        tmp_path: Path) -> None:
    with clocked_rig(tmp_path, qr_expiry_s=120, idle_s=60.0, still_there_s=15.0) as (
            rig, mono, wall):
        flow = rig.app.flow
        order_id = to_payment(rig, "qr")
        wall.advance(121.0)
        mono.advance(121.0)  # the customer waited in front of the code all along
        flow.tick()
        screen = rig.screen()
        assert screen["state"] == "failed" and screen["still_there"] is False
        assert [r["code"] for r in screen["failure"]["reasons"]] == ["qr_expired"]
        mono.advance(59.0)
        flow.tick()
        assert rig.screen()["state"] == "failed" and rig.screen()["still_there"] is False
        mono.advance(1.0)
        flow.tick()
        assert rig.screen()["still_there"] is True
        mono.advance(15.0)
        flow.tick()
        assert flow.state is KioskState.ATTRACT
        assert rig.app.orders.get(order_id).status == "voided"


def test_a_refused_tap_still_answers_still_there_on_the_screen(tmp_path: Path) -> None:
    with clocked_rig(tmp_path) as (rig, mono, _wall):
        flow = rig.app.flow
        order_item(rig, "egg-tart")
        mono.advance(rig.app.settings.idle_s)
        flow.tick()
        assert rig.screen()["still_there"] is True
        pushed = rig.app.broadcaster.latest("screen")
        with pytest.raises(FlowError):
            flow.act("finish")
        assert rig.screen()["still_there"] is False
        latest = rig.app.broadcaster.latest("screen")
        assert latest is not None and pushed is not None and latest.version > pushed.version
        assert pushed is not None and 'data-action="still_here"' in json.loads(pushed.data)["html"]
        assert 'data-action="still_here"' not in json.loads(latest.data)["html"]


def test_an_item_sold_out_while_its_dialog_is_open_is_not_added(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    flow.act("open_item", {"id": "corn"})
    kiosk.app.orders.set_sold_out("corn", True)
    try:
        flow.refresh_sold_out()
        flow.act("add_item")
        screen = kiosk.screen()
        assert screen["state"] == "item" and screen["item"]["error"] == "sold_out"
        assert screen["cart"]["count"] == 0
    finally:
        kiosk.app.orders.set_sold_out("corn", False)
        flow.refresh_sold_out()


def test_face_is_not_offered_above_the_face_limit(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    order_item(kiosk, "family-bucket", choices={"bucket-sides": ["fries", "corn"]},
               quantity=12)  # 12 x 89.00 = 1068.00, above the 1000.00 limit
    flow.act("checkout")
    assert kiosk.screen()["methods"] == ["wallet", "qr"]
    with pytest.raises(FlowError, match="not offered"):
        flow.act("pay", {"method": "face"})
    assert flow.state is KioskState.PAY_CHOICE


def test_no_payment_code_at_the_enrollment_desk_ends_it_with_a_reason(tmp_path: Path) -> None:
    from terminal.kiosk.enroll_desk import CODE_TIMEOUT_S

    with clocked_rig(tmp_path) as (rig, mono, _wall):
        flow = rig.app.flow
        to_enrollment(rig)
        flow.act("enroll_step", {"step": "agree"})
        for digit in PHONE:
            flow.act("enroll_step", {"step": "key", "digit": digit})
        flow.act("enroll_step", {"step": "submit"})
        assert enroll_screen(rig)["step"] == "code"
        mono.advance(CODE_TIMEOUT_S + 1)
        flow.tick()
        screen = enroll_screen(rig)
        assert (screen["step"], screen["reason"]) == ("failed", "no_code_seen")
        assert flow.state is KioskState.ENROLL and not flow.wants_camera


def test_typed_phone_digits_never_reach_the_screen_data(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    to_enrollment(kiosk)
    flow.act("enroll_step", {"step": "agree"})
    for digit in PHONE:
        flow.act("enroll_step", {"step": "key", "digit": digit})
    pushed = kiosk.app.broadcaster.latest("screen")
    assert pushed is not None
    assert enroll_screen(kiosk)["typed"] == len(PHONE)
    assert PHONE not in json.dumps(kiosk.screen()) and PHONE not in pushed.data
    flow.act("enroll_done")
    flow.act("pay", {"method": "face"})
    for digit in PHONE[-4:]:
        flow.act("key", {"digit": digit})
    assert kiosk.screen()["pay"]["typed"] == 4
    assert PHONE[-4:] not in json.dumps(kiosk.screen()["pay"])


def test_a_very_large_order_still_gets_its_receipt_screen_and_qr(tmp_path: Path) -> None:
    from itertools import islice, product

    from terminal.kiosk.receipt import MAX_RECEIPT_BYTES, receipt_payload

    with clocked_rig(tmp_path) as (rig, _mono, _wall):
        flow = rig.app.flow
        combos = product(("fries", "fries-large", "corn", "coleslaw"),
                         ("cola", "cola-zero", "lemon-tea", "orange-juice", "coffee"),
                         ("mild", "medium", "hot"))
        for side, drink, spice in islice(combos, 30):  # a full cart: 30 lines of 20 meals
            order_item(rig, "crunch-burger-meal", quantity=20, choices={
                "meal-side": [side], "meal-drink": [drink], "spice": [spice],
                "meal-upsize": ["upsize"]})
        assert len(rig.screen()["cart"]["lines"]) == 30
        flow.act("checkout")
        flow.act("pay", {"method": "qr"})
        order_id = rig.screen()["order"]["order_id"]
        rig.phone_pays_screen_qr()
        flow.act("cancel_payment")  # the last look finds it paid
        screen = rig.screen()
        assert screen["state"] == "paid" and screen["receipt_qr"].startswith("<svg")
        payload = receipt_payload(rig.app.orders.get(order_id), rig.app.settings)
        assert len(payload.encode()) <= MAX_RECEIPT_BYTES
        assert "more lines" in payload and f"({order_id})" in payload
        assert "Paid: Kiosk QR" in payload


def test_the_language_switch_holds_for_the_visit_and_the_next_customer_starts_in_the_default(
        kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    order_item(kiosk, "egg-tart")
    assert kiosk.screen()["cart"]["lines"][0]["text"] == "葡式蛋挞"
    flow.act("lang", {"lang": "en"})
    screen = kiosk.screen()
    assert screen["lang"] == "en" and screen["cart"]["lines"][0]["text"] == "Egg Tart"
    flow.act("back_to_menu")
    assert kiosk.screen()["menu"]["categories"][0]["name"] == "Meals"
    flow.act("cancel")
    assert kiosk.screen()["lang"] == kiosk.app.settings.language == "zh"


def test_a_finished_enrollment_gets_its_own_idle_time(tmp_path: Path) -> None:
    import threading

    with clocked_rig(tmp_path, idle_s=60.0) as (rig, mono, _wall):
        flow = rig.app.flow
        to_enrollment(rig)
        flow.act("enroll_step", {"step": "agree"})
        for digit in "13900002222":
            flow.act("enroll_step", {"step": "key", "digit": digit})
        flow.act("enroll_step", {"step": "submit"})  # the last tap
        mono.advance(40.0)  # the customer looks for the wallet's code
        running = threading.Event()

        def clock_runs() -> None:  # liveness prompts need time to pass during the capture
            while not running.wait(0.02):
                mono.advance(0.02)

        ticker = threading.Thread(target=clock_runs)
        ticker.start()
        try:
            rig.step_in(Person())
            rig.show_wallet_code("rider-low")
            wait_until(lambda: enroll_screen(rig)["step"] != "code")
            rig.camera.show_nothing()
            wait_until(lambda: enroll_screen(rig)["step"] in ("done", "failed"), timeout_s=30)
        finally:
            running.set()
            ticker.join()
        assert enroll_screen(rig)["step"] == "done"
        mono.advance(30.0)  # 70 s after the last tap, 30 s after the last frame that mattered
        flow.tick()
        assert rig.screen()["still_there"] is False
        mono.advance(30.0)
        flow.tick()
        assert rig.screen()["still_there"] is True
