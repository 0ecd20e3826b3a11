"""A SQLite journal of rentals, written after every state change (WAL, synchronous=FULL)."""

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
    updated REAL NOT NULL
);
"""


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
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open rental journal {path}: {exc}") from None
        self._lock = threading.Lock()
        self._closed = False

    def save(self, rental: Rental, *, now: float) -> None:
        """Persist ``rental``; durable when this returns."""
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO rentals(ride_id, state, data, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(ride_id) DO UPDATE SET state=excluded.state, "
                    "data=excluded.data, updated=excluded.updated",
                    (rental.ride_id, rental.state.value, rental.to_json(), now),
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
