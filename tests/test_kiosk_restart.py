"""A kiosk that stops mid-payment (crash, power cut) settles what was in flight when it starts
again, before the next customer: a charge whose answer was lost is re-sent with its own key
(charged once), a screen QR the phone paid is recorded as paid, and an order with no money in
flight is voided."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests

from hardware.emulated.switchable_camera import SwitchableCamera
from terminal.config.schema import Config
from terminal.emulator.session import Emulator
from terminal.endpoints import Endpoints
from terminal.kiosk.app import KioskApp
from tests.fault_proxy import FaultProxy
from tests.kiosk_support import kiosk_config, wait_until


@dataclass
class Site:
    config: Config
    emulator: Emulator
    proxy: FaultProxy
    state_dir: Path

    def kiosk(self, stack: ExitStack) -> tuple[KioskApp, SwitchableCamera]:
        base = self.emulator.endpoints()
        gateway = replace(base.gateway, url=self.proxy.url, max_retries=1, deadline_s=3.0)
        camera = SwitchableCamera(size=(640, 480), fps=15.0)
        app = KioskApp(self.config, Endpoints(base.score, gateway), state_dir=self.state_dir,
                       camera=camera, port=0)
        return stack.enter_context(app), camera

    def charges(self) -> int:
        with self.emulator.server.backend.store.transaction() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM charges").fetchone()[0])


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    config = replace(kiosk_config(), face=None)
    (tmp_path / "backend").mkdir()
    with Emulator(config, state_dir=tmp_path / "backend") as emulator, \
            FaultProxy(emulator.server.url) as proxy:
        yield Site(config, emulator, proxy, tmp_path / "kiosk")


def _to_payment_choice(app: KioskApp) -> str:
    flow = app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    item = next(i for i in flow.catalogue.items if flow.is_available(i) and not i.groups)
    flow.act("category", {"id": item.category})
    flow.act("open_item", {"id": item.id})
    flow.act("add_item")
    flow.act("open_cart")
    flow.act("checkout")
    return item.id




def test_a_charge_lost_in_a_crash_is_settled_once_when_the_kiosk_starts_again(
        site: Site) -> None:
    with ExitStack() as stack:
        app, camera = site.kiosk(stack)
        _to_payment_choice(app)
        site.proxy.lose_answers("POST", "/v1/charges")
        app.flow.act("pay", {"method": "wallet"})
        camera.show_code(site.emulator.wallet_code("rider-good"))
        wait_until(lambda: app.flow.state.value == "failed")
        order_id = app.flow.snapshot()["order"]["order_id"]
        assert site.charges() == 1  # charged, but the kiosk never heard
    # ...the kiosk stops here (what is on disk is what a crash leaves).
    site.proxy.heal()
    with ExitStack() as stack:
        app, _ = site.kiosk(stack)
        order = app.orders.get(order_id)
        assert order.status == "paid" and order.paid_with == "wallet" and order.charge_id
        assert "paid_before_restart" in order.reason_codes
        assert app.journal.in_flight() == []
        assert app.flow.state.value == "attract"
    assert site.charges() == 1


def test_a_screen_qr_the_phone_paid_while_the_kiosk_was_down_is_recorded_as_paid(
        site: Site) -> None:
    with ExitStack() as stack:
        app, _ = site.kiosk(stack)
        _to_payment_choice(app)
        app.flow.act("pay", {"method": "qr"})
        reference = f"{app.flow.snapshot()['order']['order_id']}P{app.flow.visit.attempt}"
        site.proxy.lose_answers("*", "/v1/orders")  # the kiosk hears nothing more
        assert requests.post(f"{site.emulator.server.url}/v1/dev/orders/{reference}/pay",
                             headers={"Authorization": f"Bearer {site.emulator.api_key}"},
                             timeout=5).status_code == 200
    site.proxy.heal()
    with ExitStack() as stack:
        app, _ = site.kiosk(stack)
        order = app.orders.get(reference.rsplit("P", 1)[0])
        assert order.status == "paid" and order.paid_with == "qr"


def test_an_order_with_no_money_in_flight_is_voided_at_start(site: Site) -> None:
    with ExitStack() as stack:
        app, _ = site.kiosk(stack)
        _to_payment_choice(app)
        app.flow.act("pay", {"method": "qr"})
        app.flow.act("cancel_payment")  # the QR is withdrawn; the order stays open
        order_id = app.flow.snapshot()["order"]["order_id"]
        assert app.orders.get(order_id).status == "open"
    with ExitStack() as stack:
        app, _ = site.kiosk(stack)
        order = app.orders.get(order_id)
        assert order.status == "voided" and order.reason_codes == ("terminal_restarted",)
