"""The receipt QR the customer scans on the success screen.

With ``kiosk.receipt_url`` set, the code is that URL with the order id (the operator's receipt
page). Without it, the code carries the receipt itself as short plain text, which any phone
camera shows with no network: merchant, order number, lines, total, payment method and time.
"""

from __future__ import annotations

from datetime import datetime

from terminal.config.schema import KioskSection
from terminal.kiosk.orders import KioskOrder
from terminal.kiosk.qr_pay import qr_svg

METHOD_NAMES = {"face": "Smile to Pay", "wallet": "Wallet payment code", "qr": "Kiosk QR"}
# A receipt QR stays small enough for a phone to read off the screen (and for a QR code at all:
# version 40 holds 2,331 bytes); item lines past this are summed up as "+ N more lines".
MAX_RECEIPT_BYTES = 1200


def receipt_text(order: KioskOrder, settings: KioskSection) -> str:
    """The receipt as plain text (English; amounts in major units with the currency code)."""
    from terminal.kiosk.screen import money_text

    when = datetime.fromtimestamp(order.paid_at or order.created_at).strftime("%Y-%m-%d %H:%M")
    head = [settings.merchant_name, f"Order {order.label} ({order.order_id})", when]
    items = [f"{line.quantity} x {line.text_en}  {money_text(line.total_minor, order.currency)}"
             for line in order.lines]
    tax = "incl." if settings.tax_included else "plus"
    tail = [f"Tax ({tax}) {money_text(order.tax_minor, order.currency)}",
            f"Total {money_text(order.total_minor, order.currency)} {order.currency}"]
    if order.paid_with:
        tail.append(f"Paid: {METHOD_NAMES.get(order.paid_with, order.paid_with)}")
    size = len("\n".join(head + tail).encode()) + 40  # room for the "more lines" note
    kept: list[str] = []
    for item in items:
        size += len(item.encode()) + 1
        if size > MAX_RECEIPT_BYTES:
            kept.append(f"+ {len(items) - len(kept)} more lines")
            break
        kept.append(item)
    return "\n".join(head + kept + tail)


def receipt_payload(order: KioskOrder, settings: KioskSection) -> str:
    """What the receipt QR encodes."""
    if settings.receipt_url:
        return settings.receipt_url.replace("{order_id}", order.order_id)
    return receipt_text(order, settings)


def receipt_qr(order: KioskOrder, settings: KioskSection) -> str:
    """The receipt QR as inline SVG."""
    return qr_svg(receipt_payload(order, settings), label=f"Receipt QR code, order {order.label}")
