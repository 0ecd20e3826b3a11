"""SQLite storage of the reference back end: one file (WAL), one transaction per request."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.errors import BackendError

log = logging.getLogger(__name__)


class Store:
    """A thread-safe SQLite database; every :meth:`transaction` runs alone and atomically.

    Writes share one connection behind a lock, so write transactions are serialised and never
    see each other half-done. Reads (:meth:`read`) take no lock: each thread has its own
    connection reading a consistent WAL snapshot while writes go on (a database in memory
    has one connection only, so there reads share the write lock).
    """

    def __init__(self, path: str) -> None:
        self.path = path or ":memory:"
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
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

    @property
    def concurrent_reads(self) -> bool:
        """Whether :meth:`read` runs without the write lock (a file database)."""
        return self.path != ":memory:"

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read-only snapshot for this thread, without the write lock (file databases)."""
        if self.path == ":memory:":
            with self.transaction() as conn:
                yield conn
            return
        self._connection()  # raises once closed
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._readers_lock:  # never the write lock: a write may be open for long
            self._connection()  # raises once closed
            try:
                conn = sqlite3.connect(Path(self.path).resolve().as_uri() + "?mode=ro", uri=True,
                                       check_same_thread=False, isolation_level=None,
                                       timeout=10.0)
            except sqlite3.Error as exc:
                raise BackendError(f"cannot read the back-end database {self.path}: {exc}") \
                    from None
            conn.row_factory = sqlite3.Row
            self._readers.append(conn)
        self._local.conn = conn
        return conn

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
            with self._readers_lock:
                for reader in self._readers:
                    reader.close()
                self._readers.clear()
