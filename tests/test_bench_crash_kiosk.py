"""`scanpay bench crash --device kiosk`: kiosks killed mid-payment, and checks that can fail."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from payments.events import Event
from payments.money import Money
from terminal.bench.crash_kiosk import check_kiosk_books, run_kiosk_crash_bench
from terminal.cli.main import main
from terminal.kiosk.orders import OrderBook, ReceiptLine
from terminal.kiosk.payment_journal import PaymentJournal, reconcile
from terminal.kiosk.smile import attempt_event_id

FAULTS = ("lost_events", "duplicate_events", "double_charges", "orphan_holds", "free_rides",
          "stuck_units")


def test_a_short_kiosk_crash_sample_leaves_the_books_clean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Seed 246 kills right after an order-book settlement, a journal write, an outbox append
    # and a gateway answer.
    assert main(["bench", "crash", "--device", "kiosk", "--cycles", "4", "--seed", "246",
                 "--json", "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(report) == {"cycles", *FAULTS}
    assert {k: report[k] for k in FAULTS} == dict.fromkeys(FAULTS, 0)
    saved = json.loads((tmp_path / "crash-kiosk.json").read_text())
    assert saved["points_hit"] == {"append": 1, "money": 1, "journal": 1, "order": 1}
    assert saved["final"] == {"served": True, "in_flight": 0, "outbox_pending": 0}
    assert saved["paid_orders"] >= 4 and set(saved["paid_with"]) <= {"wallet", "qr"}
    assert saved["events_stored"] == saved["events_logged"]


def test_the_kiosk_checks_count_what_the_books_show(tmp_path: Path) -> None:
    report, extra = run_kiosk_crash_bench(1, seed=3, work_dir=tmp_path, orders_per_life=2)
    assert report.clean and extra["paid_orders"] >= 1
    backend, kiosk = tmp_path / "backend.sqlite3", tmp_path / "kiosk"
    terminal = "emu-kiosk-0001"
    conn = sqlite3.connect(backend)
    with conn:
        charge = conn.execute("SELECT charge_id, reference FROM charges "
                              "WHERE terminal_id = ? LIMIT 1", (terminal,)).fetchone()
        if charge is None:  # every order went by screen QR: pay one of them twice instead
            paid = conn.execute("SELECT order_id FROM orders WHERE terminal_id = ? "
                                "AND paid_at IS NOT NULL LIMIT 1", (terminal,)).fetchone()
            conn.execute("INSERT INTO orders SELECT 'ord_again', terminal_id, reference || "
                         "'X', amount_minor, currency, created_at, expires_at, paid_at, "
                         "qr_payload FROM orders WHERE order_id = ?", (paid[0],))
        else:
            conn.execute("INSERT INTO charges SELECT 'ch_again', subject_id, amount_minor, "
                         "currency, refunded_minor, reference, description, hold_id, "
                         "terminal_id, created_at FROM charges WHERE charge_id = ?",
                         (charge[0],))
        event = conn.execute("SELECT event_id FROM events WHERE terminal_id = ? AND type IN "
                             "('payment.captured', 'order.paid') LIMIT 1",
                             (terminal,)).fetchone()
        conn.execute("INSERT INTO events SELECT ?, type, time, terminal_id, subject_id, "
                     "attributes, received_at FROM events WHERE event_id = ?",
                     ("evt_" + "e" * 32, event[0]))  # the same payment, another id
    conn.close()
    book = sqlite3.connect(kiosk / "kiosk.sqlite3")
    with book:
        # An order the kiosk counts as paid with no money (a free meal), and a paid order
        # it voided (the customer paid for nothing).
        book.execute("INSERT INTO kiosk_orders SELECT 'free1', number + 100, day, created_at, "
                     "dining, lines, subtotal_minor, tax_minor, total_minor, currency, "
                     "'paid', 'wallet', 'ch_none', '', paid_at, NULL FROM kiosk_orders "
                     "WHERE status = 'paid' LIMIT 1")
        victim = book.execute("SELECT order_id FROM kiosk_orders WHERE status = 'paid' "
                              "AND order_id != 'free1' LIMIT 1").fetchone()[0]
        book.execute("UPDATE kiosk_orders SET status = 'voided' WHERE order_id = ?", (victim,))
    book.close()
    checked, _ = check_kiosk_books(backend, kiosk, terminal, cycles=1, stuck=1)
    assert checked.double_charges == 1
    assert checked.duplicate_events == 1
    assert checked.free_rides == 1
    assert checked.orphan_holds >= 1
    assert checked.lost_events == 1  # the free meal has no payment event either
    assert checked.stuck_units == 1
    assert not checked.clean


def test_a_kiosk_bench_for_the_back_end_mode_is_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "crash", "--device", "kiosk", "--mode", "backend"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device kiosk" in err[0]


def _order(book: OrderBook) -> str:
    line = ReceiptLine("egg-tart", "Egg tart", "蛋挞", 1, 800, 800)
    return book.create(dining="eat_in", lines=[line], subtotal_minor=800, tax_minor=0,
                       total_minor=800, currency="CNY").order_id


@pytest.mark.parametrize("method", ["wallet", "qr"])
def test_money_answered_before_a_stop_pays_the_order_rather_than_voiding_it(
        tmp_path: Path, method: str) -> None:
    # The gateway answered (charged, or the phone paid the screen QR) and the kiosk stopped
    # before writing the order: the restart finds the order paid, logs its event once.
    book = OrderBook(tmp_path / "kiosk.sqlite3", clock=lambda: 1_700_000_000.0)
    journal = PaymentJournal(tmp_path / "kiosk.sqlite3")
    order_id = _order(book)
    reference = f"{order_id}P1"
    journal.sent(method, reference, Money(800, "CNY"), subject_id="rider-good")
    journal.settled(reference, "ch_1" if method == "wallet" else None, paid=True)
    emitted: list[Event] = []
    for _ in range(2):  # a second restart changes nothing
        left = reconcile(journal, book, None, None,  # type: ignore[arg-type]  # nothing in flight
                         terminal_id="kiosk-0001", wall_clock=lambda: 1_700_000_000.0,
                         emit=emitted.append, void_open=True)
        assert left == 0
    order = book.get(order_id)
    assert order.status == "paid" and order.paid_with == method
    kind = "payment.captured" if method == "wallet" else "order.paid"
    assert [(e.type, e.id) for e in emitted] == [
        (kind, attempt_event_id("kiosk-0001", kind, reference))]
    assert journal.paid_unrecorded() == []
    journal.close()
    book.close()


def test_an_unpaid_answer_still_voids_the_open_order(tmp_path: Path) -> None:
    book = OrderBook(tmp_path / "kiosk.sqlite3", clock=lambda: 1_700_000_000.0)
    journal = PaymentJournal(tmp_path / "kiosk.sqlite3")
    order_id = _order(book)
    journal.sent("qr", f"{order_id}P1", Money(800, "CNY"))
    journal.settled(f"{order_id}P1", paid=False)  # the QR was withdrawn unpaid
    emitted: list[Event] = []
    reconcile(journal, book, None, None,  # type: ignore[arg-type]
              terminal_id="kiosk-0001", wall_clock=lambda: 1_700_000_000.0,
              emit=emitted.append, void_open=True)
    assert book.get(order_id).status == "voided" and emitted == []
    journal.close()
    book.close()
