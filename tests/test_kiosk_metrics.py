"""The kiosk counts what its /metrics endpoint reports: codes read and payment latency."""

from __future__ import annotations

from pathlib import Path

from terminal.metrics.unit import UnitMetrics
from tests.kiosk_support import kiosk_rig, wait_until


def test_a_wallet_payment_counts_its_code_and_its_latency(tmp_path: Path) -> None:
    metrics = UnitMetrics(terminal_id="emu-kiosk-0001", role="kiosk")
    with kiosk_rig(tmp_path, metrics=metrics) as rig:
        flow = rig.app.flow
        flow.act("start")
        flow.act("dining", {"mode": "take_out"})
        item = next(i for i in flow.catalogue.items if flow.is_available(i) and not i.groups)
        flow.act("category", {"id": item.category})
        flow.act("open_item", {"id": item.id})
        flow.act("add_item")
        flow.act("open_cart")
        flow.act("checkout")
        flow.act("pay", {"method": "wallet"})
        rig.show_wallet_code()
        wait_until(lambda: flow.state.value == "paid")
        rig.camera.show_nothing()
    value = metrics.registry.get_sample_value
    assert value("scanpay_codes_decoded_total") == 1.0
    assert value("scanpay_decode_seconds_count") == 1.0
    assert value("scanpay_payment_seconds_count", {"outcome": "paid"}) == 1.0
    assert value("scanpay_payment_seconds_sum", {"outcome": "paid"}) > 0.0
