"""Wallet bookkeeping on one SQLite connection: holds, charges and refunds.

A wallet's *available* money is its balance minus its active holds. A charge or a captured hold
moves money out of the balance; a refund moves it back. Every function runs inside the caller's
transaction and raises :class:`ApiError` for a refusal. The wallet, hold or charge a call
changes is read ``FOR UPDATE``: on PostgreSQL, where several workers run transactions at
once, two calls on one wallet (or one hold, one charge) then take turns, so a balance is never
spent twice (SQLite runs write transactions one at a time anyway).
"""

from __future__ import annotations

import secrets
import sqlite3
from typing import Any

from backend.errors import ApiError
from payments.money import Money

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS wallets (
    subject_id TEXT PRIMARY KEY REFERENCES subjects(subject_id),
    currency TEXT NOT NULL,
    balance_minor INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'
);
CREATE TABLE IF NOT EXISTS holds (
    hold_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    reference TEXT NOT NULL,
    status TEXT NOT NULL,
    charge_id TEXT,
    terminal_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS charges (
    charge_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    refunded_minor INTEGER NOT NULL DEFAULT 0,
    reference TEXT NOT NULL,
    description TEXT NOT NULL,
    hold_id TEXT,
    terminal_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    refund_id TEXT PRIMARY KEY,
    charge_id TEXT NOT NULL REFERENCES charges(charge_id),
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _declined(message: str) -> ApiError:
    return ApiError(402, "payment_declined", message)


def wallet_available(conn: sqlite3.Connection, subject_id: str) -> tuple[Money, Money] | None:
    """``(balance, available)`` of the subject's wallet, or None without a wallet."""
    row = conn.execute("SELECT currency, balance_minor FROM wallets WHERE subject_id = ?",
                       (subject_id,)).fetchone()
    if row is None:
        return None
    held = conn.execute("SELECT COALESCE(SUM(amount_minor), 0) FROM holds"
                        " WHERE subject_id = ? AND status = 'held'", (subject_id,)).fetchone()[0]
    balance = Money(int(row["balance_minor"]), row["currency"])
    return balance, Money(balance.amount_minor - int(held), row["currency"])


def _check_funds(conn: sqlite3.Connection, subject_id: str, amount: Money) -> None:
    # Two statements, not four: on PostgreSQL each is a round trip. A wallet implies its
    # subject (foreign key); only without one is the subject looked up.
    row = conn.execute("SELECT currency, status, balance_minor FROM wallets"
                       " WHERE subject_id = ? FOR UPDATE", (subject_id,)).fetchone()
    if row is None and conn.execute("SELECT 1 FROM subjects WHERE subject_id = ?",
                                    (subject_id,)).fetchone() is None:
        raise ApiError(404, "unknown_subject", "no such subject")
    if row is None or row["status"] != "open":
        raise _declined("the payer's account is closed")
    if row["currency"] != amount.currency:
        raise _declined(f"the payer's wallet holds {row['currency']}, not {amount.currency}")
    held = conn.execute("SELECT COALESCE(SUM(amount_minor), 0) FROM holds"
                        " WHERE subject_id = ? AND status = 'held'", (subject_id,)).fetchone()[0]
    if int(row["balance_minor"]) - int(held) < amount.amount_minor:
        raise _declined("insufficient funds")


def _debit(conn: sqlite3.Connection, subject_id: str, amount_minor: int) -> None:
    conn.execute("UPDATE wallets SET balance_minor = balance_minor - ? WHERE subject_id = ?",
                 (amount_minor, subject_id))


def place_hold(conn: sqlite3.Connection, *, subject_id: str, amount: Money, reference: str,
               terminal_id: str, now: float) -> dict[str, Any]:
    """Reserve ``amount`` of the payer's available money (``402`` when it is not there)."""
    _check_funds(conn, subject_id, amount)
    hold_id = _new_id("hold")
    conn.execute("INSERT INTO holds(hold_id, subject_id, amount_minor, currency, reference,"
                 " status, terminal_id, created_at) VALUES (?, ?, ?, ?, ?, 'held', ?, ?)",
                 (hold_id, subject_id, amount.amount_minor, amount.currency, reference,
                  terminal_id, now))
    return {"hold_id": hold_id, "status": "held", "amount": amount.to_json()}


def _active_hold(conn: sqlite3.Connection, hold_id: str, owner: str | None) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM holds WHERE hold_id = ? FOR UPDATE", (hold_id,)).fetchone()
    if row is None or (owner is not None and row["terminal_id"] != owner):
        raise ApiError(404, "unknown_hold", "no such hold")
    if row["status"] != "held":
        raise ApiError(409, "hold_not_active", f"the hold was already {row['status']}")
    return row  # type: ignore[no-any-return]


def release_hold(conn: sqlite3.Connection, hold_id: str, *,
                 owner: str | None) -> dict[str, Any]:
    """Give the held money back to the payer's available balance.

    ``owner`` is the terminal that must have placed the hold (None: any, for operators);
    another terminal's hold is ``404 unknown_hold``, so hold ids do not leak.
    """
    _active_hold(conn, hold_id, owner)
    conn.execute("UPDATE holds SET status = 'released' WHERE hold_id = ?", (hold_id,))
    return {"hold_id": hold_id, "status": "released"}


def capture_hold(conn: sqlite3.Connection, hold_id: str, amount: Money, *, terminal_id: str,
                 now: float) -> dict[str, Any]:
    """Charge up to the held amount; the rest of the hold is released (own holds only)."""
    row = _active_hold(conn, hold_id, terminal_id)
    if amount.currency != row["currency"]:
        raise ApiError(400, "currency_mismatch", f"the hold is in {row['currency']}")
    if amount.amount_minor > row["amount_minor"]:
        raise ApiError(400, "capture_exceeds_hold", "cannot capture more than the held amount")
    charge_id = _new_id("ch")
    conn.execute("INSERT INTO charges(charge_id, subject_id, amount_minor, currency, reference,"
                 " description, hold_id, terminal_id, created_at)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (charge_id, row["subject_id"], amount.amount_minor, amount.currency,
                  row["reference"], "deposit captured", hold_id, terminal_id, now))
    conn.execute("UPDATE holds SET status = 'captured', charge_id = ? WHERE hold_id = ?",
                 (charge_id, hold_id))
    _debit(conn, row["subject_id"], amount.amount_minor)
    return {"hold_id": hold_id, "status": "captured", "charge_id": charge_id,
            "amount": amount.to_json()}


def charge(conn: sqlite3.Connection, *, subject_id: str, amount: Money, reference: str,
           description: str, terminal_id: str, now: float) -> dict[str, Any]:
    """Take ``amount`` from the payer's available money (``402`` when it is not there)."""
    _check_funds(conn, subject_id, amount)
    charge_id = _new_id("ch")
    conn.execute("INSERT INTO charges(charge_id, subject_id, amount_minor, currency, reference,"
                 " description, terminal_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (charge_id, subject_id, amount.amount_minor, amount.currency, reference,
                  description, terminal_id, now))
    _debit(conn, subject_id, amount.amount_minor)
    return {"charge_id": charge_id, "status": "captured", "amount": amount.to_json()}


def refund(conn: sqlite3.Connection, *, charge_id: str, amount: Money, terminal_id: str,
           now: float, owner: str | None) -> dict[str, Any]:
    """Return up to the not-yet-refunded part of a charge to the payer (``owner``'s charges
    only; None: any, for operators)."""
    row = conn.execute("SELECT * FROM charges WHERE charge_id = ? FOR UPDATE",
                       (charge_id,)).fetchone()
    if row is None or (owner is not None and row["terminal_id"] != owner):
        raise ApiError(404, "unknown_charge", "no such charge")
    if amount.currency != row["currency"]:
        raise ApiError(400, "currency_mismatch", f"the charge is in {row['currency']}")
    left = row["amount_minor"] - row["refunded_minor"]
    if amount.amount_minor > left:
        raise ApiError(409, "refund_exceeds_charge",
                       f"only {Money(left, row['currency'])} of this charge can still be refunded")
    refund_id = _new_id("rf")
    conn.execute("INSERT INTO refunds(refund_id, charge_id, amount_minor, currency, terminal_id,"
                 " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                 (refund_id, charge_id, amount.amount_minor, amount.currency, terminal_id, now))
    conn.execute("UPDATE charges SET refunded_minor = refunded_minor + ? WHERE charge_id = ?",
                 (amount.amount_minor, charge_id))
    _debit(conn, row["subject_id"], -amount.amount_minor)
    return {"refund_id": refund_id, "charge_id": charge_id, "status": "refunded",
            "amount": amount.to_json()}
