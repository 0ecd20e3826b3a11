"""States and events of one customer's visit to the ordering kiosk, and the table between them.

attract → dining (eat in / take out) → menu ⇄ item (options, required choices) → cart →
payment choice → paying (face, wallet code or the kiosk's QR) → paid (order number, receipt) or
payment failed (reason, what to do next, back to the cart). Consented Smile-to-Pay enrollment is
reached from the payment choice. Any state but attract returns to attract on an idle timeout or
when the customer cancels; whatever was pending is voided on the way.
"""

from __future__ import annotations

from enum import Enum

from terminal.statemachine import table_from


class KioskState(Enum):
    """Which screen the kiosk shows."""

    ATTRACT = "attract"
    DINING = "dining"
    MENU = "menu"
    ITEM = "item"
    CART = "cart"
    PAY_CHOICE = "pay_choice"
    PAYING = "paying"
    ENROLL = "enroll"
    PAID = "paid"
    FAILED = "failed"


class KioskEvent(Enum):
    """What the customer (or a payment) did."""

    START = "start"
    DINING_CHOSEN = "dining_chosen"
    OPEN_ITEM = "open_item"
    ITEM_ADDED = "item_added"
    CLOSE_ITEM = "close_item"
    OPEN_CART = "open_cart"
    BACK_TO_MENU = "back_to_menu"
    CHECKOUT = "checkout"
    PAY = "pay"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    CANCEL_PAYMENT = "cancel_payment"
    BACK_TO_CART = "back_to_cart"
    ENROLL = "enroll"
    ENROLL_DONE = "enroll_done"
    FINISH = "finish"
    CANCEL = "cancel"
    TIMEOUT = "timeout"


S, E = KioskState, KioskEvent
_VISIT = (S.DINING, S.MENU, S.ITEM, S.CART, S.PAY_CHOICE, S.PAYING, S.ENROLL, S.PAID, S.FAILED)

TRANSITIONS = table_from([
    (S.ATTRACT, E.START, S.DINING),
    (S.DINING, E.DINING_CHOSEN, S.MENU),
    (S.MENU, E.OPEN_ITEM, S.ITEM),
    (S.ITEM, E.ITEM_ADDED, S.MENU),
    (S.ITEM, E.CLOSE_ITEM, S.MENU),
    ((S.MENU, S.ITEM), E.OPEN_CART, S.CART),
    (S.CART, E.BACK_TO_MENU, S.MENU),
    ((S.CART, S.FAILED), E.CHECKOUT, S.PAY_CHOICE),
    ((S.PAY_CHOICE, S.FAILED), E.PAY, S.PAYING),
    # From failed or the payment choice: a payment whose answer was lost was confirmed.
    ((S.PAYING, S.FAILED, S.PAY_CHOICE), E.PAID, S.PAID),
    (S.PAYING, E.PAYMENT_FAILED, S.FAILED),
    (S.PAYING, E.CANCEL_PAYMENT, S.PAY_CHOICE),
    ((S.PAY_CHOICE, S.FAILED), E.BACK_TO_CART, S.CART),
    (S.PAY_CHOICE, E.ENROLL, S.ENROLL),
    (S.ENROLL, E.ENROLL_DONE, S.PAY_CHOICE),
    (S.PAID, E.FINISH, S.ATTRACT),
    ((S.DINING, S.MENU, S.ITEM, S.CART, S.PAY_CHOICE, S.FAILED, S.ENROLL), E.CANCEL,
     S.ATTRACT),
    (_VISIT, E.TIMEOUT, S.ATTRACT),
])

# Screens where the idle timer asks "still there?" (paying and the receipt have their own).
IDLE_STATES = frozenset({S.DINING, S.MENU, S.ITEM, S.CART, S.PAY_CHOICE, S.FAILED, S.ENROLL})
