"""The staff screen's routes: PIN login, sold-out marks, today's orders and refunds.

Plain HTML forms (posted, then redirected back), so it works on any screen without script.
The session cookie is HttpOnly, SameSite=Strict and limited to ``/staff``; posts from another
origin are refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from terminal.kiosk.staff import StaffError, StaffGate

if TYPE_CHECKING:
    from terminal.kiosk.app import KioskApp

COOKIE = "scanpay_staff"
MAX_FORM_BYTES = 2048


def staff_routes(kiosk: KioskApp) -> list[Any]:
    """Routes of the staff screen under ``/staff``."""
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route

    from terminal.kiosk.web.app import NO_STORE, _same_origin, _small_body

    gate = StaffGate(kiosk.settings.staff_pin, clock=kiosk.clock)

    def lang_of(request: Request) -> str:
        lang = request.query_params.get("lang", kiosk.settings.language)
        return lang if lang in ("zh", "en") else kiosk.settings.language

    def back(lang: str, message: str = "", error: bool = False,
             values: dict[str, str] | None = None) -> Response:
        query = {"lang": lang}
        if message:
            query["error" if error else "msg"] = message
        query.update({f"v_{k}": v for k, v in (values or {}).items()})
        return RedirectResponse(f"/staff?{urlencode(query)}", status_code=303)

    def refused(lang: str, exc: StaffError) -> Response:
        return back(lang, exc.code, error=True, values=exc.values)

    async def form(request: Request) -> dict[str, str] | None:
        if not _same_origin(request):
            return None
        body = await _small_body(request, MAX_FORM_BYTES)
        if body is None:
            return None
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in fields.items()}

    async def page(request: Request) -> Response:
        lang = lang_of(request)
        context: dict[str, Any] = {"lang": lang, "enabled": gate.enabled,
                                   "msg": _known_msg(request.query_params.get("msg", "")),
                                   **_known_error(request.query_params)}
        if not gate.check(request.cookies.get(COOKIE)):
            return HTMLResponse(kiosk.renderer.staff("staff_login.html", context),
                                headers=NO_STORE)
        context.update(_overview(kiosk, lang))
        return HTMLResponse(kiosk.renderer.staff("staff.html", context), headers=NO_STORE)

    async def login(request: Request) -> Response:
        lang = lang_of(request)
        fields = await form(request)
        if fields is None:
            return back(lang, "bad_request", error=True)
        try:
            token = gate.login(fields.get("pin", ""))
        except StaffError as exc:
            return refused(lang, exc)
        response = back(lang)
        response.set_cookie(COOKIE, token, max_age=600, path="/staff", httponly=True,
                            samesite="strict")
        return response

    async def logout(request: Request) -> Response:
        gate.logout(request.cookies.get(COOKIE))
        response = back(lang_of(request))
        response.delete_cookie(COOKIE, path="/staff")
        return response

    async def sold_out(request: Request) -> Response:
        lang = lang_of(request)
        fields = await form(request)
        if not gate.check(request.cookies.get(COOKIE)) or fields is None:
            return back(lang, "relogin", error=True)
        item_id = fields.get("item", "")
        try:
            kiosk.flow.catalogue.item(item_id)
        except Exception:
            return back(lang, "unknown_item", error=True)
        kiosk.orders.set_sold_out(item_id, fields.get("sold_out") == "1")
        kiosk.flow.refresh_sold_out()
        return back(lang, "saved")

    async def refund(request: Request) -> Response:
        import anyio

        lang = lang_of(request)
        fields = await form(request)
        if not gate.check(request.cookies.get(COOKIE)) or fields is None:
            return back(lang, "relogin", error=True)
        try:
            result = await anyio.to_thread.run_sync(kiosk.refund, fields.get("order", ""))
        except StaffError as exc:
            return refused(lang, exc)
        note = "already_refunded" if result.already else "refunded"
        return back(lang, f"{note}:{result.order.label}")

    return [
        Route("/staff", page),
        Route("/staff/login", login, methods=["POST"]),
        Route("/staff/logout", logout, methods=["POST"]),
        Route("/staff/sold-out", sold_out, methods=["POST"]),
        Route("/staff/refund", refund, methods=["POST"]),
    ]


def _overview(kiosk: KioskApp, lang: str) -> dict[str, Any]:
    from terminal.kiosk.screen import money_text

    sold_out = kiosk.orders.sold_out()
    catalogue = kiosk.flow.catalogue
    items = [{"id": item.id, "name": item.name.get(lang), "picture": item.picture,
              "sold_out": item.id in sold_out, "on_menu": item.available}
             for item in catalogue.items]
    orders = [{"order_id": o.order_id, "number": o.label, "status": o.status,
               "time": datetime.fromtimestamp(o.created_at).strftime("%H:%M"),
               "total": money_text(o.total_minor, o.currency), "paid_with": o.paid_with or "",
               "refundable": o.status == "paid" and bool(o.charge_id),
               "lines": ", ".join(f"{ln.quantity}× {ln.text_zh if lang == 'zh' else ln.text_en}"
                                  for ln in o.lines)}
              for o in kiosk.orders.today()]
    paid = [o for o in kiosk.orders.today() if o.status == "paid"]
    currency = catalogue.currency
    return {"items": items, "orders": orders,
            "takings": money_text(sum(o.total_minor for o in paid), currency)}


ERRORS = frozenset({"disabled", "locked_out", "wrong_pin", "unknown_order", "not_paid",
                    "phone_paid", "refund_refused", "service_down", "relogin", "bad_request",
                    "unknown_item"})
STATUSES = frozenset({"open", "paid", "failed", "voided", "refunded"})
MESSAGES = frozenset({"saved", "refunded", "already_refunded"})


def _known_error(query: Any) -> dict[str, Any]:
    """Only known message codes and well-formed values reach the page: a link cannot put
    words of its own on the staff screen."""
    code = query.get("error", "")
    if not code:
        return {"error": "", "error_values": {}}
    values: dict[str, str] = {}
    for name in ("s", "order"):
        value = query.get(f"v_{name}", "")
        if value.isascii() and value.isdigit() and len(value) <= 6:
            values[name] = value
    status = query.get("v_status", "")
    if status in STATUSES:
        values["status"] = status
    return {"error": code if code in ERRORS else "unknown", "error_values": values}


def _known_msg(msg: str) -> str:
    """A confirmation code, optionally with an order number (``refunded:042``)."""
    code, _, label = msg.partition(":")
    if code not in MESSAGES or (label and not (label.isascii() and label.isdigit())):
        return ""
    return msg
