"""The kiosk's own record of its orders (SQLite in the state folder): numbers, lines, totals,
how each was paid, refunds, and the items staff marked sold out.

Money is integer minor units. An order is written when the customer checks out, so a power
loss never loses a paid order: the payment modules key their gateway calls by the order id and
the record says which method and charge paid it.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from terminal.errors import TerminalError

OrderStatus = Literal["open", "paid", "failed", "voided", "refunded"]
PaidWith = Literal["face", "wallet", "qr"]


class OrderBookError(TerminalError):
    """An order is unknown or cannot change that way."""


@dataclass(frozen=True)
class ReceiptLine:
    """One line of an order as the receipt shows it."""

    item_id: str
    text_en: str
    text_zh: str
    quantity: int
    unit_minor: int
    total_minor: int


@dataclass(frozen=True)
class KioskOrder:
    """One order placed at this kiosk."""

    order_id: str
    number: int
    day: str
    created_at: float
    dining: str
    lines: tuple[ReceiptLine, ...]
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    currency: str
    status: OrderStatus = "open"
    paid_with: PaidWith | None = None
    charge_id: str | None = None
    reason_codes: tuple[str, ...] = ()
    paid_at: float | None = None
    refund_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The number the customer listens for, e.g. "042"."""
        return f"{self.number:03d}"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kiosk_orders (
    order_id TEXT PRIMARY KEY,
    number INTEGER NOT NULL,
    day TEXT NOT NULL,
    created_at REAL NOT NULL,
    dining TEXT NOT NULL,
    lines TEXT NOT NULL,
    subtotal_minor INTEGER NOT NULL,
    tax_minor INTEGER NOT NULL,
    total_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    paid_with TEXT,
    charge_id TEXT,
    reason_codes TEXT NOT NULL DEFAULT '',
    paid_at REAL,
    refund_id TEXT
);
CREATE INDEX IF NOT EXISTS kiosk_orders_day ON kiosk_orders (day, number);
CREATE TABLE IF NOT EXISTS kiosk_sold_out (
    item_id TEXT PRIMARY KEY,
    since REAL NOT NULL
);
"""


class OrderBook:
    """Orders and sold-out marks of one kiosk, safe to use from several threads."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    # -- orders ---------------------------------------------------------------------------

    def create(self, *, dining: str, lines: Sequence[ReceiptLine], subtotal_minor: int,
               tax_minor: int, total_minor: int, currency: str) -> KioskOrder:
        """Record a new open order with the next number of the day."""
        now = self._clock()
        day = _day(now)
        with self._transaction() as conn:
            # The day's latest order, not its highest number: after 999 the count wraps to 1.
            row = conn.execute("SELECT number FROM kiosk_orders WHERE day = ? "
                               "ORDER BY rowid DESC LIMIT 1", (day,)).fetchone()
            number = (int(row[0]) if row else 0) % 999 + 1
            order_id = f"K{day.replace('-', '')}{number:03d}{secrets.token_hex(3).upper()}"
            conn.execute(
                "INSERT INTO kiosk_orders (order_id, number, day, created_at, dining, lines, "
                "subtotal_minor, tax_minor, total_minor, currency, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')",
                (order_id, number, day, now, dining,
                 json.dumps([line.__dict__ for line in lines], ensure_ascii=False),
                 subtotal_minor, tax_minor, total_minor, currency))
        return self.get(order_id)

    def get(self, order_id: str) -> KioskOrder:
        """The order ``order_id``."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM kiosk_orders WHERE order_id = ?",
                                     (order_id,)).fetchone()
        if row is None:
            raise OrderBookError(f"no order {order_id!r} at this kiosk")
        return _order(row)

    def settle(self, order_id: str, status: OrderStatus, *, paid_with: PaidWith | None = None,
               charge_id: str | None = None, reason_codes: Sequence[str] = ()) -> KioskOrder:
        """Record how an open order ended (paid, failed or voided)."""
        paid_at = self._clock() if status == "paid" else None
        with self._transaction() as conn:
            updated = conn.execute(
                "UPDATE kiosk_orders SET status = ?, paid_with = COALESCE(?, paid_with), "
                "charge_id = COALESCE(?, charge_id), reason_codes = ?, "
                "paid_at = COALESCE(?, paid_at) "
                "WHERE order_id = ? AND status IN ('open', 'failed')",
                (status, paid_with, charge_id, ",".join(reason_codes), paid_at, order_id))
            if updated.rowcount == 0:
                current = conn.execute("SELECT status FROM kiosk_orders WHERE order_id = ?",
                                       (order_id,)).fetchone()
                if current is None:
                    raise OrderBookError(f"no order {order_id!r} at this kiosk")
                if current["status"] != status:
                    raise OrderBookError(f"order {order_id} is already {current['status']}")
        return self.get(order_id)

    def mark_refunded(self, order_id: str, refund_id: str) -> KioskOrder:
        """Record the refund of a paid order (again with the same id is a no-op)."""
        with self._transaction() as conn:
            conn.execute("UPDATE kiosk_orders SET status = 'refunded', refund_id = ? "
                         "WHERE order_id = ? AND status = 'paid'", (refund_id, order_id))
        order = self.get(order_id)
        if order.status != "refunded":
            raise OrderBookError(f"order {order_id} is {order.status}, not paid")
        return order

    def today(self) -> list[KioskOrder]:
        """Today's orders, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM kiosk_orders WHERE day = ? ORDER BY created_at DESC",
                (_day(self._clock()),)).fetchall()
        return [_order(row) for row in rows]

    # -- sold out -------------------------------------------------------------------------

    def set_sold_out(self, item_id: str, sold_out: bool) -> None:
        """Mark ``item_id`` sold out (or back on sale)."""
        with self._transaction() as conn:
            if sold_out:
                conn.execute("INSERT OR IGNORE INTO kiosk_sold_out (item_id, since) "
                             "VALUES (?, ?)", (item_id, self._clock()))
            else:
                conn.execute("DELETE FROM kiosk_sold_out WHERE item_id = ?", (item_id,))

    def sold_out(self) -> frozenset[str]:
        """Items staff marked sold out."""
        with self._lock:
            rows = self._conn.execute("SELECT item_id FROM kiosk_sold_out").fetchall()
        return frozenset(row[0] for row in rows)

    def close(self) -> None:
        """Close the database; safe to call twice."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


def _order(row: sqlite3.Row) -> KioskOrder:
    lines = tuple(ReceiptLine(**line) for line in json.loads(row["lines"]))
    return KioskOrder(
        order_id=row["order_id"], number=row["number"], day=row["day"],
        created_at=row["created_at"], dining=row["dining"], lines=lines,
        subtotal_minor=row["subtotal_minor"], tax_minor=row["tax_minor"],
        total_minor=row["total_minor"], currency=row["currency"], status=row["status"],
        paid_with=row["paid_with"], charge_id=row["charge_id"],
        reason_codes=tuple(c for c in row["reason_codes"].split(",") if c),
        paid_at=row["paid_at"], refund_id=row["refund_id"])
