"""A SQLite journal of rentals, written after every state change (WAL, synchronous=FULL).

Besides each rental's latest state it marks ended rentals that may still hold the rider's money
(``money_open``: a hold whose answer was lost, or one not yet released) for reconciliation.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from terminal.bikelock.rental import Rental
from terminal.bikelock.states import END_STATES, RideState
from terminal.errors import TerminalError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rentals (
    ride_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    data TEXT NOT NULL,
    updated REAL NOT NULL,
    money_open INTEGER NOT NULL DEFAULT 0
);
"""
_MIGRATE = "ALTER TABLE rentals ADD COLUMN money_open INTEGER NOT NULL DEFAULT 0"
_INDEX = "CREATE INDEX IF NOT EXISTS rentals_money_open ON rentals (money_open) WHERE money_open"


class JournalError(TerminalError):
    """The rental journal could not be read or written."""


class RentalJournal:
    """Durable record of each rental's latest state."""

    def __init__(self, path: str | Path) -> None:
        try:
            self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(rentals)")}
            if "money_open" not in columns:  # a journal written before reconciliation
                self._conn.execute(_MIGRATE)
            self._conn.execute(_INDEX)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open rental journal {path}: {exc}") from None
        self._lock = threading.Lock()
        self._closed = False

    def save(self, rental: Rental, *, now: float) -> None:
        """Persist ``rental``; durable when this returns."""
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO rentals(ride_id, state, data, updated, money_open) "
                    "VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(ride_id) DO UPDATE SET state=excluded.state, "
                    "data=excluded.data, updated=excluded.updated, "
                    "money_open=excluded.money_open",
                    (rental.ride_id, rental.state.value, rental.to_json(), now,
                     int(rental.money_open)),
                )
            except sqlite3.Error as exc:
                raise JournalError(f"cannot write rental {rental.ride_id}: {exc}") from None

    def unfinished(self) -> list[Rental]:
        """Rentals not in an end state (oldest first) — what a restarted unit must resume."""
        ends = (*(s.value for s in END_STATES), RideState.IDLE.value)
        marks = ",".join("?" * len(ends))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT data FROM rentals WHERE state NOT IN ({marks}) ORDER BY updated", ends
            ).fetchall()
        return [Rental.from_json(row[0]) for row in rows]

    def money_open(self) -> list[Rental]:
        """Ended rentals that may still hold money (oldest first) — what to reconcile."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT data FROM rentals WHERE money_open ORDER BY updated"
            ).fetchall()
        return [Rental.from_json(row[0]) for row in rows]

    def get(self, ride_id: str) -> Rental | None:
        """The latest saved state of ``ride_id``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM rentals WHERE ride_id = ?", (ride_id,)
            ).fetchone()
        return Rental.from_json(row[0]) if row else None

    def close(self) -> None:
        """Close the database; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> RentalJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
