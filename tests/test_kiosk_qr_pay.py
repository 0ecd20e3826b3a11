"""Kiosk QR payments against the real back end: wallet codes and the dynamic merchant QR."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from hardware.emulated.clock import ManualClock
from payments.clients.gateway import GatewayClient
from payments.clients.orders import OrderClient
from payments.events import Event
from payments.money import Money
from payments.qr import parse_payload
from terminal.config import default_config_path, load_config
from terminal.emulator.session import Emulator
from terminal.kiosk.qr_pay import KioskQrPayments
from terminal.kiosk.smile import Order
from vision.qr import QrDecoder

CONFIG = load_config(default_config_path("kiosk"))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(CONFIG, state_dir=tmp_path_factory.mktemp("kiosk")) as emu:
        yield emu


class Kiosk:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.clock = ManualClock(time.time())
        self.events: list[Event] = []
        self.polls = 0
        settings = emulator.endpoints().gateway
        self.gateway = GatewayClient(settings)
        self.orders = OrderClient(settings)
        self.pay_on_poll: str | None = None
        self.qr = KioskQrPayments(terminal_id=CONFIG.terminal.id, gateway=self.gateway,
                                  orders=self.orders, clock=self.clock, sleep=self._sleep,
                                  emit=self.events.append)

    def _sleep(self, seconds: float) -> None:
        """The kiosk waits; meanwhile the customer's phone pays (on the first wait)."""
        self.polls += 1
        if self.pay_on_poll and self.polls == 1:
            response = requests.post(
                f"{self.emulator.server.url}/v1/dev/orders/{self.pay_on_poll}/pay", timeout=5,
                headers={"Authorization": f"Bearer {self.emulator.api_key}"})
            assert response.status_code == 200, response.text
        self.clock.advance(seconds)

    def close(self) -> None:
        self.gateway.close()
        self.orders.close()


@pytest.fixture
def kiosk(emulator: Emulator) -> Iterator[Kiosk]:
    k = Kiosk(emulator)
    yield k
    k.close()


def order(amount_minor: int = 3550) -> Order:
    return Order(f"K{uuid.uuid4().hex[:12].upper()}", Money(amount_minor, "CNY"), "2 meals")


def test_wallet_code_pays_the_order_once(kiosk: Kiosk) -> None:
    code = kiosk.emulator.wallet_code("rider-good")
    first = kiosk.qr.pay_with_wallet_code(order(), code)
    assert first.outcome == "paid" and first.charge_id
    again = kiosk.qr.pay_with_wallet_code(order(), code)  # the same code shown again
    assert again.outcome == "rejected"
    assert again.reasons[0].code == "code_already_used"
    assert [e.type for e in kiosk.events] == ["payment.captured", "code.rejected"]
    assert all("phone" not in e.attributes for e in kiosk.events)


def test_empty_wallet_is_declined_in_plain_words(kiosk: Kiosk) -> None:
    result = kiosk.qr.pay_with_wallet_code(order(), kiosk.emulator.wallet_code("rider-broke"))
    assert result.outcome == "declined"
    assert "declined" in result.reasons[0].text


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("", "code_unreadable"),
        ("not a payment code at all", "code_unreadable"),
        ("upi://pay?pa=shop@bank&pn=Shop&am=10.00&cu=INR", "scheme_not_accepted"),
        (b"\x00\xff\xfe", "code_unreadable"),
    ],
)
def test_codes_the_kiosk_cannot_take_are_refused_with_a_reason(
    kiosk: Kiosk, payload: str | bytes, reason: str
) -> None:
    result = kiosk.qr.pay_with_wallet_code(order(), payload)
    assert result.outcome == "rejected"
    assert result.reasons[0].code == reason
    assert result.reasons[0].text


def test_merchant_qr_is_shown_scanned_and_paid(kiosk: Kiosk) -> None:
    o = order(2500)
    created, png = kiosk.qr.show_merchant_qr(o, expires_in_s=120)
    # The screen image decodes back to the gateway's payload, which carries amount and reference.
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    with QrDecoder() as decoder:
        shown = decoder.decode(image).codes[0].text
    assert shown == created.qr_payload
    parsed = parse_payload(shown)
    assert parsed.fields["amount"] == "25.00" and parsed.fields["reference"] == o.order_id
    kiosk.pay_on_poll = o.order_id
    result = kiosk.qr.wait_for_merchant_qr(o, deadline_s=60, interval_s=1)
    assert result.outcome == "paid"
    assert [e.type for e in kiosk.events] == ["order.paid"]


def test_merchant_qr_nobody_pays_expires_without_sleeping(kiosk: Kiosk, tmp_path: Path) -> None:
    o = order()
    kiosk.qr.show_merchant_qr(o, expires_in_s=60)
    result = kiosk.qr.wait_for_merchant_qr(o, deadline_s=30, interval_s=5)
    assert result.outcome == "pending"  # the kiosk's deadline came first; the order still lives
    assert kiosk.polls >= 5  # polled on the injected clock; no real waiting
