"""SQLite storage of the reference back end: one file (WAL), one transaction per request."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from terminal.emulator.backend.errors import BackendError

log = logging.getLogger(__name__)


class Store:
    """A thread-safe SQLite database; every :meth:`transaction` runs alone and atomically.

    One connection is shared by the server's worker threads behind a lock, so transactions are
    serialised (plenty for a reference back end) and never see each other half-done.
    """

    def __init__(self, path: str) -> None:
        self.path = path or ":memory:"
        self._lock = threading.RLock()
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=10.0
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open the back-end database {self.path}: {exc}") from None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._conn is None

    @property
    def journal_mode(self) -> str:
        """SQLite journal mode in use ('wal' for a file, 'memory' in memory)."""
        with self.transaction() as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])

    def execute_script(self, sql: str) -> None:
        """Run a schema script (``CREATE TABLE IF NOT EXISTS ...``) in one transaction."""
        with self._lock:
            conn = self._connection()
            try:
                conn.executescript(f"BEGIN;\n{sql}\nCOMMIT;")
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise BackendError("the back-end database is closed")
        return self._conn

    def close(self) -> None:
        """Close the database; safe to call more than once."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
