"""One customer's visit to the ordering kiosk, as an explicit state machine on the server.

The page only renders :meth:`KioskFlow.snapshot` and sends taps to :meth:`KioskFlow.act`; every
rule (required choices, sold-out items, totals and tax, which payments are offered, timeouts)
lives here or below. Camera frames reach the active payment through :meth:`KioskFlow.on_frame`,
timers through :meth:`KioskFlow.tick`; both run on the kiosk's worker threads, so every entry
point takes the flow's lock. ``on_change`` is called after anything the screen shows changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from payments.events import Event, make_event
from payments.money import Money
from payments.policy import MAX_REASONS, Reason
from terminal.config.schema import KioskSection
from terminal.errors import FlowError
from terminal.kiosk.cart import Cart, CartError, TaxRule, validate_choices
from terminal.kiosk.catalogue import Catalogue, Item, UnknownEntry
from terminal.kiosk.order_states import IDLE_STATES, TRANSITIONS, KioskEvent, KioskState
from terminal.kiosk.orders import KioskOrder, OrderBook, ReceiptLine
from terminal.kiosk.paying import Method, PaymentSession, PayView, describe
from terminal.kiosk.smile import Order
from terminal.statemachine import StateMachine

log = logging.getLogger(__name__)
S, E = KioskState, KioskEvent
LANGUAGES = ("zh", "en")
DINING = ("eat_in", "take_out")
METHODS: tuple[Method, ...] = ("face", "wallet", "qr")
RECHECK_S = 3.0  # how often a charge whose answer was lost is re-sent


class EnrollDesk(Protocol):
    """Consented Smile-to-Pay enrollment reached from the payment screen (see enroll_desk)."""

    def begin(self) -> None: ...

    def act(self, action: str, args: Mapping[str, str]) -> bool: ...

    def on_frame(self, image: np.ndarray, timestamp: float) -> bool: ...

    def tick(self) -> bool: ...

    def cancel(self) -> None: ...

    @property
    def finished(self) -> bool: ...

    @property
    def uses_camera(self) -> bool: ...

    def snapshot(self) -> dict[str, Any]: ...


@dataclass
class Visit:
    """What one customer has done so far (forgotten when the kiosk returns to the start)."""

    lang: str
    dining: str = ""
    category: str = ""
    item_id: str = ""
    choices: dict[str, list[str]] = field(default_factory=dict)
    item_errors: dict[str, str] = field(default_factory=dict)
    order: KioskOrder | None = None
    order_cart_version: int = -1
    attempt: int = 0
    method: Method | None = None
    pay: PayView | None = None
    failure: tuple[Reason, ...] = ()
    keypad: str = ""
    still_there: bool = False
    notice: str = ""


class KioskFlow:
    """The kiosk's screens and what each tap does."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        orders: OrderBook,
        payments: Mapping[Method, PaymentSession],
        settings: KioskSection,
        terminal_id: str,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        face_max_minor: int | None = None,
        enroll: EnrollDesk | None = None,
        emit: Callable[[Event], object] | None = None,
        on_change: Callable[[], None] | None = None,
        on_payment: Callable[[str, float, str], None] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.orders = orders
        self.settings = settings
        self._payments = dict(payments)
        self._terminal_id = terminal_id
        self._clock = clock
        self._wall = wall_clock
        self._face_max = face_max_minor
        self._enroll = enroll
        self._emit = emit or (lambda _e: None)
        self._on_change = on_change or (lambda: None)
        # (method, seconds from the "pay" tap, outcome) after each attempt: metrics.
        self._on_payment = on_payment or (lambda _m, _s, _o: None)
        self._pay_started = 0.0
        self._tax = TaxRule(rate_bp=settings.tax_rate_bp, included=settings.tax_included)
        self._lock = threading.RLock()
        self.machine: StateMachine[KioskState, KioskEvent] = StateMachine(
            TRANSITIONS, S.ATTRACT, clock=clock)
        self.revision = 0
        # Charges whose answer was lost, by method: the kiosk order they were for. Re-sent with
        # the same key until the gateway answers (see _settle_unconfirmed).
        self._unconfirmed: dict[Method, str] = {}
        self._next_recheck = 0.0
        self._new_visit(settings.language)

    # -- reading ----------------------------------------------------------------------------

    @property
    def state(self) -> KioskState:
        """The screen shown now."""
        return self.machine.state

    @property
    def lock(self) -> threading.RLock:
        """Held while the flow changes; hold it to read a consistent picture."""
        return self._lock

    @property
    def wants_camera(self) -> bool:
        """Whether the current screen feeds camera frames to a payment or an enrollment."""
        with self._lock:
            if self.state is S.PAYING and self._visit.method is not None:
                return self._payments[self._visit.method].uses_camera
            return self.state is S.ENROLL and self._enroll is not None \
                and self._enroll.uses_camera

    def snapshot(self) -> dict[str, Any]:
        """Everything the screen shows, as plain data (the page renders only this)."""
        from terminal.kiosk.screen import build_snapshot

        with self._lock:
            return build_snapshot(self)

    @property
    def visit(self) -> Visit:
        """The current customer's visit (read under :attr:`lock`)."""
        return self._visit

    @property
    def cart(self) -> Cart:
        """The current cart (read under :attr:`lock`)."""
        return self._cart

    @property
    def tax(self) -> TaxRule:
        """The tax rule from configuration."""
        return self._tax

    @property
    def enroll_desk(self) -> EnrollDesk | None:
        """The enrollment desk, if this kiosk offers enrollment."""
        return self._enroll

    def is_available(self, item: Item) -> bool:
        """An item can be ordered: on the menu and not marked sold out by staff."""
        return item.available and item.id not in self._sold_out

    def methods(self) -> list[Method]:
        """Payment methods offered for the current cart."""
        total = self._cart.totals(self._tax).total_minor
        offered: list[Method] = []
        for method in METHODS:
            if method not in self._payments:
                continue
            if method == "face" and self._face_max is not None and total > self._face_max:
                continue
            offered.append(method)
        return offered

    def seconds_left(self) -> float | None:
        """Seconds before the "still there?" question returns to the start, when it is asked."""
        if not self._visit.still_there:
            return None
        idle = self._clock() - self._last_tap
        return max(0.0, self.settings.idle_s + self.settings.still_there_s - idle)

    # -- taps -------------------------------------------------------------------------------

    def act(self, action: str, args: Mapping[str, str] | None = None) -> None:
        """Apply one tap; an action the current screen does not offer raises FlowError."""
        handler = _ACTIONS.get(action)
        if handler is None:
            raise FlowError(f"unknown action {action!r}")
        with self._lock:
            self._last_tap = self._clock()
            self._visit.still_there = False
            self._visit.notice = ""
            try:
                handler(self, dict(args or {}))
            finally:  # a refused tap still answered "still there?": show that too
                self._changed()

    def on_frame(self, image: np.ndarray, timestamp: float) -> None:
        """Feed one camera frame to the payment or enrollment that is waiting for it."""
        with self._lock:
            if self.state is S.PAYING and self._visit.method is not None:
                session = self._payments[self._visit.method]
                if session.uses_camera:
                    self._payment_step(session.on_frame(image, timestamp))
            elif self.state is S.ENROLL and self._enroll is not None \
                    and self._enroll.on_frame(image, timestamp):
                self._last_tap = self._clock()  # the customer is at the camera: not idle
                self._changed()

    def tick(self) -> None:
        """Timers: idle prompt and timeout, payment polling and expiry, the receipt screen."""
        with self._lock:
            now = self._clock()
            state = self.state
            if state is S.PAYING and self._visit.method is not None:
                self._payment_step(self._payments[self._visit.method].tick())
            elif state is S.PAID:
                if now - self._paid_at >= self.settings.receipt_s:
                    self._fire(E.FINISH)
                    self._new_visit(self.settings.language)
                    self._changed()
            elif state is S.ENROLL and self._enroll is not None and self._enroll.tick():
                self._changed()
            if self._unconfirmed and now >= self._next_recheck:
                self._next_recheck = now + RECHECK_S
                self._settle_unconfirmed()
            if self.state in IDLE_STATES and not (self.state is S.ENROLL and self.wants_camera):
                idle = now - self._last_tap
                if idle >= self.settings.idle_s + self.settings.still_there_s:
                    self._void("idle_timeout")
                    self._fire(E.TIMEOUT)
                    self._new_visit(self.settings.language)
                    self._changed()
                elif idle >= self.settings.idle_s and not self._visit.still_there:
                    self._visit.still_there = True
                    self._changed()
                elif self._visit.still_there:
                    self._changed()  # the countdown moves

    def orders_in_hand(self) -> frozenset[str]:
        """Orders whose money calls the flow is settling itself (the current customer's, and
        charges it is re-sending after a lost answer)."""
        with self._lock:
            mine = {self._visit.order.order_id} if self._visit.order is not None else set()
            return frozenset(mine | set(self._unconfirmed.values()))

    def refresh_sold_out(self) -> None:
        """Staff changed what is sold out: re-read it and show it."""
        with self._lock:
            self._sold_out = self.orders.sold_out()
            self._changed()

    # -- action handlers ---------------------------------------------------------------------

    def _start(self, args: dict[str, str]) -> None:
        self._fire(E.START)

    def _set_lang(self, args: dict[str, str]) -> None:
        lang = args.get("lang", "")
        if lang not in LANGUAGES:
            raise FlowError(f"language must be one of {', '.join(LANGUAGES)}")
        self._visit.lang = lang

    def _dining(self, args: dict[str, str]) -> None:
        mode = args.get("mode", "")
        if mode not in DINING:
            raise FlowError("dining must be eat_in or take_out")
        self._fire(E.DINING_CHOSEN)
        self._visit.dining = mode
        self._visit.category = self.catalogue.categories[0].id

    def _category(self, args: dict[str, str]) -> None:
        self._require(S.MENU, S.ITEM)
        category = args.get("id", "")
        try:
            self.catalogue.category(category)
        except UnknownEntry as exc:
            raise FlowError(str(exc)) from None
        if self.state is S.ITEM:
            self._fire(E.CLOSE_ITEM)
        self._visit.category = category

    def _open_item(self, args: dict[str, str]) -> None:
        item = self._item(args.get("id", ""))
        if not self.is_available(item):
            self._require(S.MENU)
            self._visit.notice = "sold_out"
            return
        self._fire(E.OPEN_ITEM)
        self._visit.item_id = item.id
        self._visit.choices = {g.id: [] for g in self.catalogue.groups_of(item)}
        for group in self.catalogue.groups_of(item):
            if group.required and group.min == 1 and group.max == 1 and group.options:
                self._visit.choices[group.id] = [group.options[0].id]  # a default to change
        self._visit.item_errors = {}

    def _toggle_option(self, args: dict[str, str]) -> None:
        self._require(S.ITEM)
        item = self._item(self._visit.item_id)
        group_id, option_id = args.get("group", ""), args.get("option", "")
        if group_id not in item.groups:
            raise FlowError(f"{item.id} has no choice {group_id!r}")
        group = self.catalogue.group(group_id)
        if option_id not in {o.id for o in group.options}:
            raise FlowError(f"{group_id} has no option {option_id!r}")
        chosen = self._visit.choices.setdefault(group_id, [])
        if option_id in chosen:
            if group.max == 1 and group.min == 1:
                return  # a single required choice is changed, not emptied
            chosen.remove(option_id)
        elif group.max == 1:
            chosen[:] = [option_id]
        elif len(chosen) < group.max:
            chosen.append(option_id)
        else:
            self._visit.item_errors = {group_id: "too_many"}
            return
        self._visit.item_errors.pop(group_id, None)

    def _add_item(self, args: dict[str, str]) -> None:
        self._require(S.ITEM)
        item = self._item(self._visit.item_id)
        problems = validate_choices(self.catalogue, item, self._visit.choices)
        if problems:
            self._visit.item_errors = {g: e.code for g, e in problems.items()}
            return
        try:
            self._cart.add(item.id, self._visit.choices, _quantity(args.get("quantity", "1")))
        except CartError as exc:
            self._visit.item_errors = {exc.group_id or "_": exc.code}
            return
        self._cart_version += 1
        self._fire(E.ITEM_ADDED)
        self._visit.item_id, self._visit.choices, self._visit.item_errors = "", {}, {}
        self._visit.notice = "added"

    def _close_item(self, args: dict[str, str]) -> None:
        self._fire(E.CLOSE_ITEM)
        self._visit.item_id, self._visit.choices, self._visit.item_errors = "", {}, {}

    def _open_cart(self, args: dict[str, str]) -> None:
        self._fire(E.OPEN_CART)
        self._visit.item_id = ""

    def _change_quantity(self, args: dict[str, str], delta: int | None) -> None:
        self._require(S.CART)
        line_id = args.get("line", "")
        line = next((ln for ln in self._cart.lines if ln.line_id == line_id), None)
        if line is None:
            raise FlowError(f"no cart line {line_id!r}")
        quantity = 0 if delta is None else line.quantity + delta
        try:
            self._cart.set_quantity(line_id, quantity)
        except CartError as exc:
            self._visit.notice = exc.code
            return
        self._cart_version += 1

    def _inc(self, args: dict[str, str]) -> None:
        self._change_quantity(args, +1)

    def _dec(self, args: dict[str, str]) -> None:
        self._change_quantity(args, -1)

    def _remove(self, args: dict[str, str]) -> None:
        self._change_quantity(args, None)

    def _back_to_menu(self, args: dict[str, str]) -> None:
        self._fire(E.BACK_TO_MENU)

    def _checkout(self, args: dict[str, str]) -> None:
        self._require(S.CART, S.FAILED)
        if not self._cart.lines:
            self._visit.notice = "cart_empty"
            return
        if self._cart.unavailable_lines():
            self._visit.notice = "sold_out_in_cart"
            if self.state is S.FAILED:
                self._fire(E.BACK_TO_CART)
            return
        self._fire(E.CHECKOUT)

    def _pay(self, args: dict[str, str]) -> None:
        self._require(S.PAY_CHOICE, S.FAILED)
        method = args.get("method") or (self._visit.method if self.state is S.FAILED else "")
        if method not in self.methods():
            raise FlowError(f"payment method {method!r} is not offered for this order")
        if self._blocked_by_unconfirmed(method):  # type: ignore[arg-type]
            return
        if self._cart.unavailable_lines():  # staff marked an item sold out after checkout
            self._visit.notice = "sold_out_in_cart"
            self._fire(E.BACK_TO_CART)
            return
        order = self._order_for_payment()
        self._visit.attempt += 1
        self._visit.method = method  # type: ignore[assignment]
        self._visit.keypad = ""
        self._visit.failure = ()
        self._fire(E.PAY)
        self._pay_started = self._clock()
        session = self._payments[method]  # type: ignore[index]
        reference = f"{order.order_id}P{self._visit.attempt}"
        self._payment_step(session.start(Order(
            reference, Money(order.total_minor, order.currency),
            f"Kiosk order {order.label}")))

    def _key(self, args: dict[str, str]) -> None:
        self._require(S.PAYING)
        digit = args.get("digit", "")
        if not (len(digit) == 1 and digit.isascii() and digit.isdigit()):
            raise FlowError("a key is one digit")
        if len(self._visit.keypad) < 15:
            self._visit.keypad += digit

    def _backspace(self, args: dict[str, str]) -> None:
        self._require(S.PAYING)
        self._visit.keypad = self._visit.keypad[:-1]

    def _submit_digits(self, args: dict[str, str]) -> None:
        self._require(S.PAYING)
        if self._visit.method is None:
            raise FlowError("no payment in progress")
        typed, self._visit.keypad = self._visit.keypad, ""
        self._payment_step(self._payments[self._visit.method].enter_digits(typed))

    def _cancel_payment(self, args: dict[str, str]) -> None:
        self._require(S.PAYING)
        view = self._void_payment()
        if view is not None and view.outcome == "paid":
            return  # paid just before the tap: the receipt is shown instead
        self._fire(E.CANCEL_PAYMENT)

    def _other_method(self, args: dict[str, str]) -> None:
        if self._blocked_by_unconfirmed(None):
            return
        self._checkout(args)

    def _recheck(self, args: dict[str, str]) -> None:
        self._require(S.FAILED)
        self._settle_unconfirmed()

    def _back_to_cart(self, args: dict[str, str]) -> None:
        self._fire(E.BACK_TO_CART)

    def _enroll_start(self, args: dict[str, str]) -> None:
        if self._enroll is None:
            raise FlowError("this kiosk does not offer Smile to Pay enrollment")
        self._fire(E.ENROLL)
        self._enroll.begin()

    def _enroll_act(self, args: dict[str, str]) -> None:
        self._require(S.ENROLL)
        assert self._enroll is not None
        self._enroll.act(args.pop("step", ""), args)

    def _enroll_done(self, args: dict[str, str]) -> None:
        self._require(S.ENROLL)
        assert self._enroll is not None
        self._enroll.cancel()
        self._fire(E.ENROLL_DONE)

    def _finish(self, args: dict[str, str]) -> None:
        self._fire(E.FINISH)
        self._new_visit(self.settings.language)

    def _cancel(self, args: dict[str, str]) -> None:
        self._require(*[s for s, e in TRANSITIONS if e is E.CANCEL])
        self._void("cancelled")
        self._fire(E.CANCEL)
        self._new_visit(self.settings.language)

    def _still_here(self, args: dict[str, str]) -> None:
        """Any tap answers "still there?"; this one does nothing else."""

    # -- payments -----------------------------------------------------------------------------

    def _order_for_payment(self) -> KioskOrder:
        """The order record for this cart: reused for a retry, replaced if the cart changed."""
        visit = self._visit
        if visit.order is not None and visit.order_cart_version == self._cart_version:
            return visit.order
        if visit.order is not None:
            self._settle(visit.order, "voided", ("cart_changed",))
        totals = self._cart.totals(self._tax)
        lines = [ReceiptLine(line.item_id, self._cart.describe(line, "en"),
                             self._cart.describe(line, "zh"), line.quantity, line.unit_minor,
                             line.total_minor) for line in self._cart.lines]
        visit.order = self.orders.create(
            dining=visit.dining, lines=lines, subtotal_minor=totals.subtotal_minor,
            tax_minor=totals.tax_minor, total_minor=totals.total_minor,
            currency=totals.currency)
        visit.order_cart_version = self._cart_version
        visit.attempt = 0
        return visit.order

    def _payment_step(self, view: PayView) -> None:
        previous = self._visit.pay
        self._visit.pay = view
        if view.outcome == "paid":
            self._paid(view)
        elif view.outcome == "failed":
            self._failed(view)
        elif previous is None or describe(previous) != describe(view) \
                or previous.qr_svg != view.qr_svg:
            self._changed()

    def _paid(self, view: PayView) -> None:
        order = self._visit.order
        assert order is not None and self._visit.method is not None
        self._visit.order = self._settle(order, "paid", tuple(r.code for r in view.reasons),
                                         paid_with=self._visit.method, charge_id=view.charge_id)
        self._paid_at = self._clock()
        self._on_payment(self._visit.method, self._paid_at - self._pay_started, "paid")
        self._cart.clear()
        self._cart_version += 1
        self._fire(E.PAID)
        self._changed()

    def _failed(self, view: PayView) -> None:
        order = self._visit.order
        method = self._visit.method
        if order is not None and method is not None and self._payments[method].unconfirmed:
            self._unconfirmed[method] = order.order_id
            self._next_recheck = self._clock() + RECHECK_S
        reasons = view.reasons[:MAX_REASONS] or (Reason("payment_failed",
                                                        "The payment did not go through"),)
        self._visit.failure = reasons
        if order is not None:
            self._visit.order = self._settle(order, "failed", tuple(r.code for r in reasons))
        self._last_tap = self._clock()  # the failure screen gets its own idle time to be read
        self._on_payment(method or "unknown", self._last_tap - self._pay_started,
                         reasons[0].code)
        self._fire(E.PAYMENT_FAILED)
        self._changed()

    def _void_payment(self) -> PayView | None:
        """Abandon the payment in progress; returns its last view (it may have been paid)."""
        method = self._visit.method
        if self.state is not S.PAYING or method is None:
            return None
        session = self._payments[method]
        view = session.void()
        if view.outcome == "paid":
            self._visit.pay = view
            self._paid(view)
        elif session.unconfirmed and self._visit.order is not None:
            self._unconfirmed[method] = self._visit.order.order_id
            self._next_recheck = self._clock() + RECHECK_S
        return view

    def _void(self, why: str) -> None:
        """The customer left or cancelled: nothing stays pending or held."""
        if self.state is S.PAYING:
            view = self._void_payment()
            if view is not None and view.outcome == "paid":
                return
        if self.state is S.ENROLL and self._enroll is not None:
            self._enroll.cancel()
        order = self._visit.order
        if order is not None and order.order_id in self._unconfirmed.values():
            # A charge for this order may have gone through: it is settled in the background
            # (paid orders show up on the staff screen), never voided blind.
            self._settle_unconfirmed(current=False)
            order = self.orders.get(order.order_id)
            if order.order_id in self._unconfirmed.values() or order.status == "paid":
                return
        if order is not None and order.status in ("open", "failed"):
            self._settle(order, "voided", (why,))
            self._emit(make_event("order.cancelled", terminal_id=self._terminal_id,
                                  subject_id=None, attributes={
                                      "order_id": order.order_id, "reason": why,
                                      "amount_minor": order.total_minor,
                                      "currency": order.currency}, clock=self._wall))

    def _blocked_by_unconfirmed(self, method: Method | None) -> bool:
        """Settle lost answers first; True (with a notice) while one still blocks paying."""
        self._settle_unconfirmed()
        if self.state is S.PAID:
            return True  # the lost charge went through: the receipt is on screen
        order = self._visit.order
        current = order is not None and order.order_id in self._unconfirmed.values()
        if current or (method is not None and method in self._unconfirmed):
            self._visit.notice = "payment_unconfirmed"
            return True
        return False

    def _settle_unconfirmed(self, *, current: bool = True) -> None:
        """Re-send every charge whose answer was lost (same key: charged at most once)."""
        for method, order_id in list(self._unconfirmed.items()):
            view = self._payments[method].recheck()
            if view.outcome == "failed" and view.stage == "unconfirmed":
                continue  # still no answer: try again later
            del self._unconfirmed[method]
            mine = (current and self._visit.order is not None
                    and self._visit.order.order_id == order_id
                    and self.state in (S.FAILED, S.PAY_CHOICE))
            if view.outcome == "paid":
                if mine:
                    self._visit.method, self._visit.pay = method, view
                    self._paid(view)
                    continue
                self.orders.settle(order_id, "paid", paid_with=method, charge_id=view.charge_id,
                                   reason_codes=("paid_after_customer_left",))
                log.warning("kiosk order %s: a lost charge went through after the customer "
                            "left; it is on the staff screen", order_id)
            elif mine:
                self._visit.failure = view.reasons
                self._changed()

    def _settle(self, order: KioskOrder, status: Any, reasons: tuple[str, ...], **extra: Any
                ) -> KioskOrder:
        return self.orders.settle(order.order_id, status, reason_codes=reasons, **extra)

    # -- helpers ------------------------------------------------------------------------------

    def _item(self, item_id: str) -> Item:
        try:
            return self.catalogue.item(item_id)
        except UnknownEntry as exc:
            raise FlowError(str(exc)) from None

    def _require(self, *states: KioskState) -> None:
        if self.state not in states:
            raise FlowError(f"not possible on the {self.state.value} screen")

    def _fire(self, event: KioskEvent) -> None:
        self.machine.fire(event)

    def _changed(self) -> None:
        self.revision += 1
        self._on_change()

    def _new_visit(self, lang: str) -> None:
        self._sold_out = self.orders.sold_out()
        self._cart = Cart(self.catalogue,
                          is_available=lambda item_id: item_id not in self._sold_out)
        self._cart_version = 0
        self._visit = Visit(lang=lang)
        self._last_tap = self._clock()
        self._paid_at = 0.0


def _quantity(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise FlowError(f"quantity must be a whole number, got {text!r}") from None
    if not 1 <= value <= 20:
        raise FlowError("quantity must be 1..20")
    return value


_ACTIONS: dict[str, Callable[[KioskFlow, dict[str, str]], None]] = {
    "start": KioskFlow._start,
    "lang": KioskFlow._set_lang,
    "dining": KioskFlow._dining,
    "category": KioskFlow._category,
    "open_item": KioskFlow._open_item,
    "toggle_option": KioskFlow._toggle_option,
    "add_item": KioskFlow._add_item,
    "close_item": KioskFlow._close_item,
    "open_cart": KioskFlow._open_cart,
    "inc": KioskFlow._inc,
    "dec": KioskFlow._dec,
    "remove": KioskFlow._remove,
    "back_to_menu": KioskFlow._back_to_menu,
    "checkout": KioskFlow._checkout,
    "pay": KioskFlow._pay,
    "key": KioskFlow._key,
    "backspace": KioskFlow._backspace,
    "submit_digits": KioskFlow._submit_digits,
    "cancel_payment": KioskFlow._cancel_payment,
    "other_method": KioskFlow._other_method,
    "back_to_cart": KioskFlow._back_to_cart,
    "enroll": KioskFlow._enroll_start,
    "enroll_step": KioskFlow._enroll_act,
    "enroll_done": KioskFlow._enroll_done,
    "finish": KioskFlow._finish,
    "cancel": KioskFlow._cancel,
    "still_here": KioskFlow._still_here,
    "recheck": KioskFlow._recheck,
}
ACTIONS = frozenset(_ACTIONS)
