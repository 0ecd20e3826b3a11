"""A kiosk charge whose answer is lost is never charged twice: the kiosk says it is checking,
refuses a second payment meanwhile, and re-sends the same charge (same idempotency key) until
the gateway answers — then shows the receipt, or the customer's walk-away leaves it for staff."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from hardware.emulated.clock import ManualClock
from hardware.emulated.switchable_camera import SwitchableCamera
from terminal.emulator.session import Emulator
from terminal.endpoints import Endpoints
from terminal.kiosk.app import KioskApp
from terminal.kiosk.flow import RECHECK_S
from tests.fault_proxy import FaultProxy
from tests.kiosk_support import kiosk_config, wait_until


@dataclass
class LossyKiosk:
    app: KioskApp
    emulator: Emulator
    proxy: FaultProxy
    camera: SwitchableCamera
    clock: ManualClock
    wall: ManualClock

    def charges(self) -> int:
        with self.emulator.server.backend.store.transaction() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM charges").fetchone()[0])

    def to_payment_choice(self) -> None:
        flow = self.app.flow
        flow.act("start")
        flow.act("dining", {"mode": "eat_in"})
        item = next(i for i in flow.catalogue.items if flow.is_available(i) and not i.groups)
        flow.act("category", {"id": item.category})
        flow.act("open_item", {"id": item.id})
        flow.act("add_item")
        flow.act("open_cart")
        flow.act("checkout")

    def wallet_payment_with_lost_answer(self) -> None:
        self.to_payment_choice()
        self.proxy.lose_answers("POST", "/v1/charges")  # every answer, retries included
        self.app.flow.act("pay", {"method": "wallet"})
        code = self.emulator.wallet_code("rider-good")
        # The wallet stamps the code with the real time; the kiosk's wall clock is manual and
        # was set when the fixture started (seconds ago on a busy machine): bring it level.
        self.wall.set(max(self.wall(), time.time()))
        self.camera.show_code(code)
        wait_until(lambda: self.app.flow.state.value == "failed")
        self.camera.show_nothing()




@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[LossyKiosk]:
    config = kiosk_config()
    config = replace(config, face=None)
    clock = ManualClock(1000.0)
    wall = ManualClock(time.time())
    with ExitStack() as stack:
        (tmp_path / "backend").mkdir()
        emulator = stack.enter_context(Emulator(config, state_dir=tmp_path / "backend"))
        proxy = stack.enter_context(FaultProxy(emulator.server.url))
        base = emulator.endpoints()
        gateway = replace(base.gateway, url=proxy.url, max_retries=1, deadline_s=3.0)
        camera = SwitchableCamera(size=(640, 480), fps=15.0)
        app = stack.enter_context(KioskApp(
            config, Endpoints(base.score, gateway), state_dir=tmp_path / "kiosk",
            camera=camera, port=0, clock=clock, wall_clock=wall, tick_s=3600.0))
        yield LossyKiosk(app, emulator, proxy, camera, clock, wall)


def test_a_lost_charge_answer_is_checked_not_paid_twice_and_shows_the_receipt_once_confirmed(
        kiosk: LossyKiosk) -> None:
    kiosk.wallet_payment_with_lost_answer()
    flow = kiosk.app.flow
    screen = flow.snapshot()
    assert [r["code"] for r in screen["failure"]["reasons"]] == ["payment_unconfirmed"]
    assert kiosk.proxy.lost and kiosk.charges() == 1  # the gateway did charge
    html = kiosk.app.renderer.screen(screen)
    assert 'data-action="recheck"' in html and 'data-action="other_method"' not in html

    flow.act("pay", {"method": "qr"})  # paying again another way is held back
    assert flow.state.value == "failed"
    assert flow.snapshot()["notice"] == "payment_unconfirmed"

    kiosk.proxy.heal()
    kiosk.clock.advance(RECHECK_S + 0.1)
    flow.tick()  # the ticker re-sends the same charge: the gateway replays its answer
    screen = flow.snapshot()
    assert screen["state"] == "paid"
    assert screen["order"]["status"] == "paid" and screen["order"]["paid_with"] == "wallet"
    assert screen["order"]["charge_id"]
    assert kiosk.charges() == 1


def test_a_customer_who_walks_away_from_an_unconfirmed_charge_leaves_a_paid_order_for_staff(
        kiosk: LossyKiosk) -> None:
    kiosk.wallet_payment_with_lost_answer()
    flow = kiosk.app.flow
    order_id = flow.snapshot()["order"]["order_id"]
    kiosk.clock.advance(kiosk.app.settings.idle_s + kiosk.app.settings.still_there_s + 1)
    flow.tick()  # the gateway still does not answer: back to the start, order not voided
    assert flow.state.value == "attract"
    assert kiosk.app.orders.get(order_id).status == "failed"

    kiosk.proxy.heal()
    kiosk.clock.advance(RECHECK_S + 0.1)
    flow.tick()  # settled in the background while the kiosk waits for the next customer
    assert flow.state.value == "attract"
    order = kiosk.app.orders.get(order_id)
    assert order.status == "paid" and order.charge_id and order.paid_with == "wallet"
    assert "paid_after_customer_left" in order.reason_codes
    assert kiosk.charges() == 1


def test_a_screen_qr_that_expired_while_the_gateway_was_silent_is_settled_once_it_answers(
        kiosk: LossyKiosk) -> None:
    import requests

    kiosk.to_payment_choice()
    flow = kiosk.app.flow
    flow.act("pay", {"method": "qr"})
    reference = f"{flow.snapshot()['order']['order_id']}P{flow.visit.attempt}"
    kiosk.proxy.lose_answers("*", "/v1/orders")  # status polls and the withdrawal
    paid = requests.post(f"{kiosk.emulator.server.url}/v1/dev/orders/{reference}/pay",
                         headers={"Authorization": f"Bearer {kiosk.emulator.api_key}"},
                         timeout=5)
    assert paid.status_code == 200  # the phone paid just before the link went quiet
    kiosk.wall.advance(kiosk.app.settings.qr_expiry_s + 10)
    kiosk.clock.advance(5.0)
    flow.tick()
    screen = flow.snapshot()
    assert screen["state"] == "failed"
    assert [r["code"] for r in screen["failure"]["reasons"]] == ["payment_unconfirmed"]

    kiosk.proxy.heal()
    kiosk.clock.advance(RECHECK_S + 0.1)
    flow.tick()
    screen = flow.snapshot()
    assert screen["state"] == "paid" and screen["order"]["paid_with"] == "qr"
