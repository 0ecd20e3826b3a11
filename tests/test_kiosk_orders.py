"""The kiosk's order book on real SQLite: order numbers per day, how an order may end, refunds,
sold-out marks, and what survives a restart."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from terminal.kiosk.orders import KioskOrder, OrderBook, OrderBookError, ReceiptLine

NOON = datetime(2026, 3, 14, 12, 0).timestamp()
LINE = ReceiptLine("egg-tart", "Egg Tart", "蛋挞", 2, 750, 1500)


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def book(tmp_path: Path, clock: Clock) -> Iterator[OrderBook]:
    orders = OrderBook(tmp_path / "kiosk.sqlite3", clock=clock)
    yield orders
    orders.close()


def new_order(book: OrderBook) -> KioskOrder:
    return book.create(dining="eat_in", lines=[LINE], subtotal_minor=1500, tax_minor=85,
                       total_minor=1500, currency="CNY")


def test_a_new_order_is_open_with_its_lines_and_totals(book: OrderBook) -> None:
    order = new_order(book)
    assert order.status == "open" and order.number == 1 and order.label == "001"
    assert order.day == "2026-03-14" and order.order_id.startswith("K20260314001")
    assert order.lines == (LINE,)
    assert (order.subtotal_minor, order.tax_minor, order.total_minor) == (1500, 85, 1500)
    assert book.get(order.order_id) == order


def test_numbers_count_up_per_day_and_start_again_the_next_day(book: OrderBook,
                                                               clock: Clock) -> None:
    assert [new_order(book).number for _ in range(3)] == [1, 2, 3]
    clock.now += 86400
    assert new_order(book).number == 1
    assert [o.number for o in book.today()] == [1]


def test_numbers_wrap_after_999_and_keep_counting(book: OrderBook, tmp_path: Path) -> None:
    first = new_order(book)
    with sqlite3.connect(tmp_path / "kiosk.sqlite3") as conn:  # a busy day, 998 orders later
        conn.execute("UPDATE kiosk_orders SET number = 999 WHERE order_id = ?",
                     (first.order_id,))
    assert [new_order(book).number for _ in range(3)] == [1, 2, 3]


def test_order_ids_are_unique(book: OrderBook) -> None:
    ids = {new_order(book).order_id for _ in range(50)}
    assert len(ids) == 50


def test_an_order_is_paid_once_with_its_method_and_charge(book: OrderBook) -> None:
    order = new_order(book)
    paid = book.settle(order.order_id, "paid", paid_with="wallet", charge_id="ch_1",
                       reason_codes=["wallet_code_paid"])
    assert (paid.status, paid.paid_with, paid.charge_id) == ("paid", "wallet", "ch_1")
    assert paid.paid_at == NOON and paid.reason_codes == ("wallet_code_paid",)
    again = book.settle(order.order_id, "paid", paid_with="wallet", charge_id="ch_1")
    assert again.status == "paid"
    with pytest.raises(OrderBookError, match="already paid"):
        book.settle(order.order_id, "voided", reason_codes=["cancelled"])


def test_a_failed_order_can_be_retried_and_paid(book: OrderBook) -> None:
    order = new_order(book)
    failed = book.settle(order.order_id, "failed", reason_codes=["qr_expired"])
    assert failed.status == "failed" and failed.paid_at is None
    paid = book.settle(order.order_id, "paid", paid_with="qr", reason_codes=["merchant_qr_paid"])
    assert paid.status == "paid" and paid.charge_id is None


def test_a_voided_order_can_never_be_paid(book: OrderBook) -> None:
    order = new_order(book)
    book.settle(order.order_id, "voided", reason_codes=["idle_timeout"])
    with pytest.raises(OrderBookError, match="already voided"):
        book.settle(order.order_id, "paid", paid_with="face", charge_id="ch_2")
    assert book.get(order.order_id).reason_codes == ("idle_timeout",)


def test_an_unknown_order_is_one_clear_error(book: OrderBook) -> None:
    with pytest.raises(OrderBookError, match="no order 'K0' at this kiosk"):
        book.get("K0")
    with pytest.raises(OrderBookError, match="no order 'K0'"):
        book.settle("K0", "paid")


def test_a_refund_is_recorded_once(book: OrderBook) -> None:
    order = new_order(book)
    with pytest.raises(OrderBookError, match="not paid"):
        book.mark_refunded(order.order_id, "rf_1")
    book.settle(order.order_id, "paid", paid_with="face", charge_id="ch_3")
    refunded = book.mark_refunded(order.order_id, "rf_1")
    assert refunded.status == "refunded" and refunded.refund_id == "rf_1"
    assert book.mark_refunded(order.order_id, "rf_2").refund_id == "rf_1"


def test_today_lists_only_todays_orders_newest_first(book: OrderBook, clock: Clock) -> None:
    yesterday = new_order(book)
    clock.now += 86400
    a = new_order(book)
    clock.now += 60
    b = new_order(book)
    today = book.today()
    assert [o.order_id for o in today] == [b.order_id, a.order_id]
    assert yesterday.order_id not in {o.order_id for o in today}


def test_sold_out_marks_come_and_go(book: OrderBook) -> None:
    assert book.sold_out() == frozenset()
    book.set_sold_out("cola", True)
    book.set_sold_out("cola", True)
    book.set_sold_out("fries", True)
    assert book.sold_out() == {"cola", "fries"}
    book.set_sold_out("cola", False)
    assert book.sold_out() == {"fries"}


def test_orders_and_marks_survive_a_restart(tmp_path: Path, clock: Clock) -> None:
    book = OrderBook(tmp_path / "k.sqlite3", clock=clock)
    order = new_order(book)
    book.settle(order.order_id, "paid", paid_with="wallet", charge_id="ch_9")
    book.set_sold_out("corn", True)
    book.close()
    book.close()  # safe twice
    again = OrderBook(tmp_path / "k.sqlite3", clock=clock)
    try:
        assert again.get(order.order_id).charge_id == "ch_9"
        assert again.sold_out() == {"corn"}
        assert new_order(again).number == 2
    finally:
        again.close()


def test_threads_creating_orders_at_once_get_distinct_numbers(book: OrderBook) -> None:
    numbers: list[int] = []
    lock = threading.Lock()

    def place() -> None:
        for _ in range(10):
            number = new_order(book).number
            with lock:
                numbers.append(number)

    threads = [threading.Thread(target=place) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == list(range(1, 41))
