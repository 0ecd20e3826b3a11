"""Kiosk QR payments on the emulator: a dynamic merchant QR paid by the customer's phone, then
a wallet payment code shown to the kiosk camera (and shown again, which must be refused)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from hardware.emulated.synthetic_camera import SyntheticCamera
from payments.clients.gateway import GatewayClient
from payments.clients.orders import OrderClient
from payments.events import Event
from payments.money import Money
from payments.qr import parse_payload
from terminal.config.schema import Config
from terminal.emulator.session import Emulator
from terminal.kiosk.qr_pay import KioskQrPayments
from terminal.kiosk.smile import Order
from vision.qr import QrDecoder, QrScanner


def run_kiosk_qr_demo(config: Config, *, png_out: Path | None = None,
                      say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run both QR directions once; returns a summary dict."""
    events: list[Event] = []
    with tempfile.TemporaryDirectory(prefix="scanpay-kiosk-") as tmp, \
            Emulator(config, state_dir=Path(tmp)) as emulator:
        say(f"back end     reference payment gateway at {emulator.server.url}")
        settings = emulator.endpoints().gateway
        with GatewayClient(settings) as gateway, OrderClient(settings) as orders:

            waits = [0]

            def customer_pays_meanwhile(seconds: float) -> None:
                waits[0] += 1
                if waits[0] == 2:  # the customer scans the screen and confirms on the phone
                    say("phone        customer scans the code on the screen and pays")
                    requests.post(f"{emulator.server.url}/v1/dev/orders/{first.order_id}/pay",
                                  headers={"Authorization": f"Bearer {emulator.api_key}"},
                                  timeout=5).raise_for_status()
                time.sleep(min(seconds, 0.05))

            qr = KioskQrPayments(terminal_id=config.terminal.id, gateway=gateway, orders=orders,
                                 sleep=customer_pays_meanwhile, emit=events.append)
            first = Order(f"K{int(time.time())}A", Money(3550, "CNY"), "2 meals")
            created, png = qr.show_merchant_qr(first, expires_in_s=120)
            fields = parse_payload(created.qr_payload).fields
            say(f"screen       order {first.order_id}: {first.amount}; dynamic QR "
                f"({len(created.qr_payload)} chars, amount {fields.get('amount')}, "
                f"reference {fields.get('reference')})")
            if png_out is not None:
                png_out.write_bytes(png)
                say(f"screen       QR image written to {png_out}")
            merchant = qr.wait_for_merchant_qr(first, deadline_s=30, interval_s=0.2)
            say(f"outcome      {merchant.outcome}: {merchant.reasons[0].text}")

            second = Order(f"K{int(time.time())}B", Money(1800, "CNY"), "1 meal")
            code = emulator.wallet_code("rider-good")
            say(f"customer     shows their wallet's payment code to the kiosk camera "
                f"(order {second.amount})")
            camera = SyntheticCamera(code)
            with QrDecoder(budget_ms=config.scan.budget_ms) as decoder, \
                    QrScanner(camera, decoder) as scanner:
                seen = scanner.next_code(timeout_s=config.scan.timeout_s)
            camera.close()
            if seen is None:
                return {"merchant_qr": merchant.to_json(), "wallet_code": None}
            say(f"camera       QR read by {seen.code.engine} in {seen.decode_ms:.1f} ms")
            wallet = qr.pay_with_wallet_code(second, seen.code.payload)
            say(f"outcome      {wallet.outcome}: {wallet.reasons[0].text}")
            replay = qr.pay_with_wallet_code(
                Order(f"K{int(time.time())}C", Money(1800, "CNY")), seen.code.payload)
            say(f"replay       same code again: {replay.outcome} — {replay.reasons[0].text}")
    return {"merchant_qr": merchant.to_json(), "wallet_code": wallet.to_json(),
            "replay": replay.to_json(), "events_logged": len(events)}
