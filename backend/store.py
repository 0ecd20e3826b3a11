"""Storage of the reference back end: SQLite (embedded default) or PostgreSQL, one interface.

:func:`open_store` picks the store from a URL: ``""`` (in memory), a file path or
``sqlite:///path`` open a :class:`Store` (SQLite); ``postgresql://...`` opens a
:class:`backend.pgstore.PgStore`. Both hand out *connection-like* objects from
:meth:`BaseStore.transaction` and :meth:`BaseStore.read`: ``execute(sql, params)`` returns a
cursor (``fetchone``/``fetchall``/iteration, ``rowcount``, ``description``) whose rows answer
both ``row[0]`` and ``row["name"]``. SQL is written once, portably (docs/api.md "Storage"):
``?`` placeholders, ``INSERT ... ON CONFLICT``, ids made in Python, and ``SELECT ... FOR
UPDATE`` where a row must stay locked until the transaction ends (PostgreSQL locks it; SQLite's
write transactions run one at a time, so there the clause is dropped).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from backend.errors import BackendError
from backend.sqlite_checkpoint import Checkpointer

log = logging.getLogger(__name__)

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# Bytes a restarted write-ahead log is cut back to. Large on purpose: a log file kept at its
# size is rewritten in place, while one cut short must grow again, and each extension of the
# file waits for the file system's journal, which the checkpoint's sync holds (bench load:
# p99 95-135 ms with 16 MB, 61-72 ms with 64 MB).
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# How long a SQLite writer waits for another connection's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000
# How long a write on the event loop waits for another thread's or connection's write before
# it moves to the thread pool: healthy writes take about a millisecond and waiting costs less
# than the hop, but a long one elsewhere must not stall every request for long.
BRIEF_WAIT_S = 0.05


class StoreBusy(BackendError):
    """A write asked to wait only briefly (:meth:`Store.waiting_briefly`) found another writer
    still busy; nothing was written, so the caller may run it again where waiting is
    allowed."""


class Cursor(Protocol):
    """What ``execute`` returns on either store."""

    rowcount: int

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The connection-like object a transaction hands out."""

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...


class BaseStore(ABC):
    """A database of the back end: transactions, read snapshots, schema scripts."""

    #: "sqlite" or "postgresql"
    dialect: str = ""
    #: Whether several processes may serve this database (state they share lives in it).
    shared: bool = False

    @property
    @abstractmethod
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""

    @property
    def concurrent_reads(self) -> bool:
        """Whether :meth:`read` is quick enough to run on the event loop: it neither waits
        for writers nor for the network."""
        return True

    @property
    def inline(self) -> bool:
        """Whether a route may run this store's transactions on the event loop itself when
        no other writer is busy (:func:`backend.context.on_store`): they do not cross the
        network, and :meth:`waiting_briefly` makes them refuse rather than wait long."""
        return False

    @contextmanager
    def waiting_briefly(self) -> Iterator[None]:
        """Make the thread's next transaction refuse (:class:`StoreBusy`) rather than wait
        long, where the store supports it (:attr:`inline`); here a no-op."""
        yield

    def companion(self, name: str, schema: str) -> BaseStore:
        """A store for one kind of short-lived, write-heavy rows (request nonces) whose
        writes should not queue behind the main data's: a SQLite file of its own next to
        this one (:class:`Store`), this store itself elsewhere. ``schema`` is run on it
        (``CREATE ... IF NOT EXISTS``); closed with this store."""
        self.execute_script(schema)
        return self

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """A write transaction: committed when the block ends, rolled back if it raises."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Any]:
        """A read-only transaction (a consistent snapshot where the store offers one)."""

    @abstractmethod
    def exclusive(self) -> AbstractContextManager[Any]:
        """A write transaction no other process runs at the same time (schema migrations)."""

    @abstractmethod
    def close(self) -> None:
        """Close the database; safe to call more than once."""

    def execute_script(self, sql: str) -> None:
        """Run a schema script (``CREATE TABLE IF NOT EXISTS ...``) in one transaction."""
        with self.transaction() as conn:
            run_script(conn, sql)


def split_statements(sql: str) -> list[str]:
    """The statements of a script, split at semicolons outside quotes and comments."""
    out: list[str] = []
    buf: list[str] = []
    quote = ""
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif ch == ";":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf))
    return [s.strip() for s in out if s.strip()]


def run_script(conn: Any, sql: str) -> None:
    """Run every statement of ``sql`` on ``conn`` (inside the caller's transaction)."""
    for statement in split_statements(sql):
        conn.execute(statement)


def open_store(url: str, **options: Any) -> BaseStore:
    """The store a URL names: ``""`` = SQLite in memory, a path or ``sqlite:///path`` = a SQLite
    file, ``postgresql://user@host:port/db[?schema=name]`` = PostgreSQL (``options`` go to
    :class:`backend.pgstore.PgStore`: pool sizes)."""
    if url.startswith(POSTGRES_SCHEMES):
        from backend.pgstore import PgStore

        return PgStore(url, **options)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        if path.startswith("/") and not path.startswith("//"):
            path = path[1:]  # sqlite:///relative.db, sqlite:////abs/path.db
        elif path.startswith("//"):
            path = path[1:]
        return Store(path, **options)
    if "://" in url:
        raise BackendError(f"unknown store URL {url!r}: use a file path, sqlite:///path or "
                           "postgresql://...")
    return Store(url, **options)


def describe_url(url: str) -> str:
    """``url`` without its password, for logs and start-up lines."""
    if not url:
        return "SQLite in memory (lost on exit)"
    if not url.startswith(POSTGRES_SCHEMES):
        return f"SQLite file {url}"
    scheme, _, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"PostgreSQL {scheme}://{creds}{at}{host}"


_SQLITE_SQL: dict[str, str] = {}


def _sqlite_sql(sql: str) -> str:
    """``sql`` as SQLite runs it: row-lock clauses dropped (its writers run one at a time)."""
    found = _SQLITE_SQL.get(sql)
    if found is None:
        found = sql.replace(" FOR UPDATE", "")
        if len(_SQLITE_SQL) < 4096:
            _SQLITE_SQL[sql] = found
    return found


class SqliteConnection:
    """A ``sqlite3.Connection`` with the portable SQL of :mod:`backend.store`."""

    __slots__ = ("raw",)
    dialect = "sqlite"

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement."""
        return self.raw.execute(_sqlite_sql(sql), params)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        """Run one statement for each row of parameters."""
        return self.raw.executemany(_sqlite_sql(sql), rows)


class Store(BaseStore):
    """A thread-safe SQLite database; every :meth:`transaction` runs alone and atomically.

    Writes share one connection behind a lock, so write transactions are serialised and never
    see each other half-done. A writer also takes an exclusive OS lock on ``<file>-writer``
    (``flock``), as do the other worker processes on the file and the WAL checkpointer
    (:mod:`backend.sqlite_checkpoint`): a waiting writer sleeps in the kernel and wakes the
    moment the lock is free, where SQLite's own busy handler (``BEGIN IMMEDIATE`` against
    another connection) polls with sleeps of up to 100 ms. Reads (:meth:`read`) take no lock:
    each thread has its own connection reading a consistent WAL snapshot while writes go on
    (a database in memory has one connection only, so there reads share the write lock).
    """

    dialect = "sqlite"

    def __init__(self, path: str, *, shared: bool = False) -> None:
        self.path = path or ":memory:"
        self.shared = shared and self.path != ":memory:"
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000.0
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open the back-end database {self.path}: {exc}") from None
        self._wrapped = SqliteConnection(self._conn)
        self._checkpointer: Checkpointer | None = None
        self._companions: dict[str, Store] = {}
        self._writer_fd: int | None = None
        if self.path != ":memory:":
            try:
                self._writer_fd = os.open(self.writer_lock_path, os.O_RDWR | os.O_CREAT,
                                          0o600)
            except OSError as exc:
                self._conn.close()
                raise BackendError(f"cannot open the writer lock of {self.path}: {exc}") \
                    from None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._conn is None

    @property
    def writer_lock_path(self) -> str:
        """The file every writer of this database (any process, and the checkpointer) holds
        an exclusive ``flock`` on while it writes."""
        return f"{self.path}-writer"

    @property
    def journal_mode(self) -> str:
        """SQLite journal mode in use ('wal' for a file, 'memory' in memory)."""
        with self.transaction() as conn:
            return str(conn.raw.execute("PRAGMA journal_mode").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[SqliteConnection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        The first transaction inside :meth:`waiting_briefly` on this thread waits at most
        :data:`BRIEF_WAIT_S` for another thread of this process or for a connection outside
        this store (SQLite's own lock), then raises :class:`StoreBusy` before anything is
        written. Other worker processes on the file are waited for: their writes are as short
        as this one's, and the kernel wakes the next writer the moment the lock is free."""
        brief = getattr(self._local, "brief", False)
        self._local.brief = False  # only the first: a later one follows a committed write
        if not self._lock.acquire(timeout=BRIEF_WAIT_S if brief else -1):
            raise StoreBusy("another thread is writing")
        try:
            conn = self._connection()
            if self._checkpointer is None and self.path != ":memory:":
                # Started with the first write (after any fork), never at import or open.
                conn.execute("PRAGMA wal_autocheckpoint = 0")
                # A log restarted by a checkpoint is cut back to this size.
                conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
                self._checkpointer = Checkpointer(self.path, lock_path=self.writer_lock_path
                                                  ).start()
            if self._writer_fd is not None:
                fcntl.flock(self._writer_fd, fcntl.LOCK_EX)
            try:
                self._begin(conn, brief)
                try:
                    yield self._wrapped
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if self._writer_fd is not None:
                    fcntl.flock(self._writer_fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()

    def _begin(self, conn: sqlite3.Connection, brief: bool) -> None:
        if not brief:
            conn.execute("BEGIN IMMEDIATE")
            return
        conn.execute(f"PRAGMA busy_timeout = {int(BRIEF_WAIT_S * 1000)}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusy("the database is locked by another connection") from None
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    @contextmanager
    def waiting_briefly(self) -> Iterator[None]:
        """Within the block, the thread's next :meth:`transaction` waits at most
        :data:`BRIEF_WAIT_S` for a writer of this process or a foreign connection, then
        raises :class:`StoreBusy` (:func:`backend.context.on_store`: a route on the event
        loop writes inline unless another holds the lock for long, else on the thread
        pool)."""
        self._local.brief = True
        try:
            yield
        finally:
            self._local.brief = False

    def companion(self, name: str, schema: str) -> BaseStore:
        """``<file>-<name>``, a SQLite file with a writer lock of its own (every process on
        this file opens the same one); in memory, this store itself."""
        if self.path == ":memory:":
            return super().companion(name, schema)
        with self._lock:
            self._connection()  # raises once closed
            found = self._companions.get(name)
            if found is None:
                found = Store(f"{self.path}-{name}", shared=self.shared)
                try:
                    found.execute_script(schema)
                except BaseException:
                    found.close()
                    raise
                self._companions[name] = found
            return found

    def exclusive(self) -> AbstractContextManager[SqliteConnection]:
        """A write transaction; ``BEGIN IMMEDIATE`` already keeps other processes out."""
        return self.transaction()

    @property
    def inline(self) -> bool:
        """SQLite is local: a transaction waits at most for another writer's few statements."""
        return True

    @property
    def concurrent_reads(self) -> bool:
        """Whether :meth:`read` runs without the write lock (a file database)."""
        return self.path != ":memory:"

    @contextmanager
    def read(self) -> Iterator[SqliteConnection]:
        """A read-only snapshot for this thread, without the write lock (file databases)."""
        if self.path == ":memory:":
            with self.transaction() as conn:
                yield conn
            return
        self._connection()  # raises once closed
        conn = self._reader()
        conn.raw.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.raw.execute("COMMIT")

    def _reader(self) -> SqliteConnection:
        conn: SqliteConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._readers_lock:  # never the write lock: a write may be open for long
            self._connection()  # raises once closed
            try:
                raw = sqlite3.connect(Path(self.path).resolve().as_uri() + "?mode=ro", uri=True,
                                      check_same_thread=False, isolation_level=None,
                                      timeout=10.0)
            except sqlite3.Error as exc:
                raise BackendError(f"cannot read the back-end database {self.path}: {exc}") \
                    from None
            raw.row_factory = sqlite3.Row
            self._readers.append(raw)
        conn = SqliteConnection(raw)
        self._local.conn = conn
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise BackendError("the back-end database is closed")
        return self._conn

    def close(self) -> None:
        """Close the database; safe to call more than once."""
        with self._lock:
            for companion in self._companions.values():
                companion.close()
            self._companions.clear()
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._writer_fd is not None:
                os.close(self._writer_fd)
                self._writer_fd = None
            with self._readers_lock:
                for reader in self._readers:
                    reader.close()
                self._readers.clear()
