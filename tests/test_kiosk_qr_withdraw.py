"""A kiosk QR the customer walked away from is withdrawn at the gateway; a payment that
arrived first is kept."""

from __future__ import annotations

import pytest
import requests

from payments.clients.errors import ConflictError
from payments.clients.orders import OrderClient
from payments.money import Money
from tests.kiosk_support import KioskRig, kiosk_rig


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory):
    with kiosk_rig(tmp_path_factory.mktemp("kiosk-withdraw")) as running:
        yield running


def _to_screen_qr(rig: KioskRig) -> str:
    flow = rig.app.flow
    if flow.state.value != "attract":
        flow.act("cancel")
    flow.act("start")
    flow.act("dining", {"mode": "take_out"})
    item = next(i for i in flow.catalogue.items if flow.is_available(i) and not i.groups)
    flow.act("category", {"id": item.category})
    flow.act("open_item", {"id": item.id})
    flow.act("add_item")
    flow.act("open_cart")
    flow.act("checkout")
    flow.act("pay", {"method": "qr"})
    assert flow.snapshot()["pay"]["stage"] == "waiting"
    return f"{flow.snapshot()['order']['order_id']}P{flow.visit.attempt}"


def _dev_pay(rig: KioskRig, reference: str) -> requests.Response:
    return requests.post(f"{rig.emulator.server.url}/v1/dev/orders/{reference}/pay",
                         headers={"Authorization": f"Bearer {rig.emulator.api_key}"},
                         timeout=5)


def test_cancelling_the_payment_withdraws_the_screen_qr(rig: KioskRig) -> None:
    reference = _to_screen_qr(rig)
    rig.app.flow.act("cancel_payment")
    assert rig.app.flow.state.value == "pay_choice"
    with OrderClient(rig.emulator.endpoints().gateway) as orders:
        assert orders.get_order(reference).status == "expired"
    late = _dev_pay(rig, reference)
    assert late.status_code == 410  # the phone can no longer pay what the kiosk abandoned
    assert "order.cancelled" in [e.type for e in rig.events]


def test_a_phone_that_paid_before_the_customer_cancelled_keeps_the_order_paid(
        rig: KioskRig) -> None:
    reference = _to_screen_qr(rig)
    assert _dev_pay(rig, reference).status_code == 200
    rig.app.flow.act("cancel_payment")  # before the kiosk's next poll saw the payment
    screen = rig.app.flow.snapshot()
    assert screen["state"] == "paid"
    assert screen["order"]["status"] == "paid" and screen["order"]["paid_with"] == "qr"


def test_the_gateway_refuses_to_cancel_a_paid_order_and_cancelling_twice_is_harmless(
        rig: KioskRig) -> None:
    with OrderClient(rig.emulator.endpoints().gateway) as orders:
        orders.create_order(Money(900, "CNY"), "WITHDRAW1", "withdraw-key-0001",
                            expires_in_s=120)
        assert orders.cancel_order("WITHDRAW1").status == "expired"
        assert orders.cancel_order("WITHDRAW1").status == "expired"
        orders.create_order(Money(900, "CNY"), "WITHDRAW2", "withdraw-key-0002",
                            expires_in_s=120)
        assert _dev_pay(rig, "WITHDRAW2").status_code == 200
        with pytest.raises(ConflictError):
            orders.cancel_order("WITHDRAW2")


