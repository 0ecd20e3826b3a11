"""What the kiosk screen shows, as plain data built from the flow (templates render only this).

Everything here is read-only: names in the customer's language, prices as integer minor units
with their display form, which controls are offered, and the payment's progress. The same data
is the JSON form of the screen (``GET /screen.json``), which the tests and the dev panel read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from payments.money import currency_exponent
from terminal.kiosk.order_states import KioskState

if TYPE_CHECKING:
    from terminal.kiosk.flow import KioskFlow
    from terminal.kiosk.orders import KioskOrder

SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}


def money_text(amount_minor: int, currency: str) -> str:
    """Display form of an amount, e.g. ``¥35.50``."""
    exp = currency_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    units, minor = divmod(abs(amount_minor), 10 ** exp) if exp else (abs(amount_minor), 0)
    number = f"{units}.{minor:0{exp}d}" if exp else str(units)
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def build_snapshot(flow: KioskFlow) -> dict[str, Any]:
    """The whole screen as plain data (call with the flow's lock held)."""
    visit = flow.visit
    lang = visit.lang
    catalogue = flow.catalogue
    currency = catalogue.currency
    state = flow.state
    totals = flow.cart.totals(flow.tax)
    data: dict[str, Any] = {
        "state": state.value,
        "revision": flow.revision,
        "lang": lang,
        "dining": visit.dining,
        "notice": visit.notice,
        "still_there": visit.still_there,
        "seconds_left": _round(flow.seconds_left()),
        "cart": {
            "count": totals.count,
            "lines": [{
                "line_id": line.line_id, "item_id": line.item_id,
                "text": flow.cart.describe(line, lang), "quantity": line.quantity,
                "unit_minor": line.unit_minor, "total_minor": line.total_minor,
                "total_text": money_text(line.total_minor, currency),
                "picture": catalogue.item(line.item_id).picture,
                "available": flow.is_available(catalogue.item(line.item_id)),
            } for line in flow.cart.lines],
            "subtotal_minor": totals.subtotal_minor, "tax_minor": totals.tax_minor,
            "total_minor": totals.total_minor, "currency": currency,
            "subtotal_text": money_text(totals.subtotal_minor, currency),
            "tax_text": money_text(totals.tax_minor, currency),
            "total_text": money_text(totals.total_minor, currency),
            "tax_included": flow.tax.included,
            "tax_rate_text": f"{flow.tax.rate_bp / 100:g}%",
        },
    }
    if state in (KioskState.MENU, KioskState.ITEM):
        data["menu"] = _menu(flow, lang)
    if state is KioskState.ITEM:
        data["item"] = _item(flow, lang)
    if state in (KioskState.PAY_CHOICE, KioskState.PAYING, KioskState.FAILED):
        data["methods"] = list(flow.methods())
    if state is KioskState.PAYING and visit.pay is not None:
        pay = visit.pay
        data["pay"] = {
            "method": pay.method, "stage": pay.stage, "prompt_id": pay.prompt_id,
            "prompt": pay.prompt, "action": pay.action, "digits_asked": pay.digits_asked,
            "typed": len(visit.keypad), "qr_svg": pay.qr_svg, "expires_at": pay.expires_at,
            "reasons": _reasons(pay.reasons),
        }
    if state is KioskState.FAILED:
        data["failure"] = {"method": visit.method, "reasons": _reasons(visit.failure)}
    if visit.order is not None:
        data["order"] = order_data(visit.order, lang)
    if state is KioskState.PAID and visit.order is not None:
        from terminal.kiosk.receipt import receipt_qr

        data["receipt_qr"] = receipt_qr(visit.order, flow.settings)
    if state is KioskState.ENROLL and flow.enroll_desk is not None:
        data["enroll"] = flow.enroll_desk.snapshot()
    return data


def order_data(order: KioskOrder, lang: str) -> dict[str, Any]:
    """An order as the receipt and the staff screen show it."""
    currency = order.currency
    return {
        "order_id": order.order_id, "number": order.label, "status": order.status,
        "dining": order.dining, "paid_with": order.paid_with, "charge_id": order.charge_id,
        "created_at": order.created_at, "paid_at": order.paid_at,
        "lines": [{"text": line.text_zh if lang == "zh" else line.text_en,
                   "quantity": line.quantity,
                   "total_text": money_text(line.total_minor, currency)}
                  for line in order.lines],
        "subtotal_text": money_text(order.subtotal_minor, currency),
        "tax_text": money_text(order.tax_minor, currency),
        "total_minor": order.total_minor, "currency": currency,
        "total_text": money_text(order.total_minor, currency),
        "reason_codes": list(order.reason_codes),
    }


def _menu(flow: KioskFlow, lang: str) -> dict[str, Any]:
    catalogue = flow.catalogue
    current = flow.visit.category
    return {
        "category": current,
        "categories": [{"id": c.id, "name": c.name.get(lang), "picture": c.picture,
                        "current": c.id == current} for c in catalogue.categories],
        "items": [{
            "id": item.id, "name": item.name.get(lang),
            "description": item.description.get(lang) if item.description else "",
            "price_text": money_text(item.price_minor, catalogue.currency),
            "picture": item.picture, "available": flow.is_available(item),
            "combo": item.combo, "tags": list(item.tags),
        } for item in catalogue.items_in(current)],
    }


def _item(flow: KioskFlow, lang: str) -> dict[str, Any]:
    catalogue = flow.catalogue
    item = catalogue.item(flow.visit.item_id)
    chosen = flow.visit.choices
    errors = flow.visit.item_errors
    unit = item.price_minor + sum(
        catalogue.group(g).option(o).price_minor for g, ids in chosen.items() for o in ids)
    return {
        "id": item.id, "name": item.name.get(lang), "picture": item.picture,
        "description": item.description.get(lang) if item.description else "",
        "price_text": money_text(unit, catalogue.currency), "combo": item.combo,
        "error": errors.get("_", ""),
        "groups": [{
            "id": group.id, "name": group.name.get(lang), "min": group.min, "max": group.max,
            "required": group.required, "error": errors.get(group.id, ""),
            "options": [{
                "id": option.id, "name": option.name.get(lang),
                "price_text": (f"+{money_text(option.price_minor, catalogue.currency)}"
                               if option.price_minor else ""),
                "selected": option.id in chosen.get(group.id, []),
            } for option in group.options],
        } for group in catalogue.groups_of(item)],
    }


def _reasons(reasons: Any) -> list[dict[str, str]]:
    return [{"code": r.code, "text": r.text} for r in reasons]


def _round(value: float | None) -> int | None:
    return None if value is None else int(value + 0.999)
