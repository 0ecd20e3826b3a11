"""The unit's fleet state in SQLite: commands seen (with their first ack), sequence, interval.

A command id is claimed in the same transaction that finds it new, before the command runs, so
a repeated id (the broker's redelivery, the operator's retry, a restart mid-command) never runs
twice: a later copy gets the first ack again, or, when the unit stopped before acking, a
``failed`` ack saying it was interrupted. WAL with ``synchronous=FULL`` as the outbox: a claim
that returned survives a power cut.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from terminal.fleet.errors import FleetError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_commands (
    command_id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    received_at REAL NOT NULL,
    ack TEXT
);
CREATE TABLE IF NOT EXISTS fleet_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# Commands are remembered this long (a command's deadline is at most a day).
KEEP_COMMANDS_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Claim:
    """Whether a command id is new (run it) or seen before (re-send ``ack`` when known)."""

    new: bool
    ack: bytes | None = None


class FleetStore:
    """Thread-safe; a context manager with an idempotent :meth:`close`."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            conn.execute("DELETE FROM fleet_commands WHERE received_at < ?",
                         (self._clock() - KEEP_COMMANDS_S,))
        except (OSError, sqlite3.Error) as exc:
            raise FleetError(f"fleet state {self.path} cannot be opened: {exc}") from None
        self._conn: sqlite3.Connection | None = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise FleetError(f"fleet state {self.path} is closed")
        return self._conn

    def claim(self, command_id: str, command: str) -> Claim:
        """Remember ``command_id`` if new; otherwise what was answered to it."""
        with self._lock:
            conn = self._db()
            try:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute("SELECT ack FROM fleet_commands WHERE command_id = ?",
                                   (command_id,)).fetchone()
                if row is None:
                    conn.execute("INSERT INTO fleet_commands (command_id, command, received_at) "
                                 "VALUES (?, ?, ?)", (command_id, command, self._clock()))
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise FleetError(f"fleet state {self.path}: {exc}") from None
        if row is None:
            return Claim(new=True)
        return Claim(new=False, ack=None if row[0] is None else row[0].encode("utf-8"))

    def save_ack(self, command_id: str, ack: bytes) -> None:
        """Keep the first ack sent for ``command_id`` (a later one never replaces it)."""
        self._execute("UPDATE fleet_commands SET ack = ? WHERE command_id = ? AND ack IS NULL",
                      (ack.decode("utf-8"), command_id))

    def next_seq(self) -> int:
        """The next message sequence number (per device, increasing across restarts)."""
        with self._lock:
            conn = self._db()
            try:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute("SELECT value FROM fleet_meta WHERE key = 'seq'").fetchone()
                seq = int(row[0]) + 1 if row else 1
                conn.execute("INSERT INTO fleet_meta (key, value) VALUES ('seq', ?) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(seq),))
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise FleetError(f"fleet state {self.path}: {exc}") from None
        return seq

    def interval_s(self) -> int | None:
        """The reporting interval the operator last set, or None (use the configured one)."""
        with self._lock:
            row = self._db().execute(
                "SELECT value FROM fleet_meta WHERE key = 'interval_s'").fetchone()
        return int(row[0]) if row else None

    def set_interval_s(self, seconds: int) -> None:
        """Remember the reporting interval the operator set."""
        self._execute("INSERT INTO fleet_meta (key, value) VALUES ('interval_s', ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                      (str(int(seconds)),))

    def _execute(self, sql: str, params: tuple[object, ...]) -> None:
        with self._lock:
            try:
                self._db().execute(sql, params)
            except sqlite3.Error as exc:
                raise FleetError(f"fleet state {self.path}: {exc}") from None

    def close(self) -> None:
        """Close the database; safe to call twice."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> FleetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
