"""Durable event outbox: SQLite in WAL mode, at-least-once hand-over to the uploader.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``. In WAL mode NORMAL only syncs at
checkpoints, so a power cut (routine on a bike lock) can lose the last commits; FULL syncs the
WAL on every commit, so :meth:`Outbox.append` returning means the event survives power loss.
The cost is one fsync per append, which is small next to a payment round trip.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from payments.errors import PaymentsError
from payments.event_chain import SCHEMA_SQL as CHAIN_SCHEMA_SQL
from payments.event_chain import link
from payments.events import Event, EventError

logger = logging.getLogger(__name__)

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dropped')),
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at REAL,
    last_error TEXT,
    settled_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, seq);
"""


class OutboxError(PaymentsError):
    """The outbox database cannot be opened, is closed, or failed to write."""


@dataclass(frozen=True)
class OutboxCounts:
    """How many events are waiting, were delivered, or were dropped as malformed."""

    pending: int
    delivered: int
    dropped: int


@dataclass(frozen=True)
class PendingEvent:
    """An event waiting for delivery, with its delivery bookkeeping."""

    event: Event
    attempts: int
    last_error: str | None


class Outbox:
    """A thread-safe durable queue of events; a context manager with an idempotent close()."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from None
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(f"outbox {self.path}: WAL mode not available (got {mode})")
            conn.execute("PRAGMA synchronous=FULL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise OutboxError(
                    f"outbox {self.path} has schema {version}; this software knows "
                    f"{_SCHEMA_VERSION}"
                )
            conn.executescript(_SCHEMA + CHAIN_SCHEMA_SQL)
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            conn.close()
            raise OutboxError(f"outbox {self.path} is not a usable database: {exc}") from None
        except OutboxError:
            conn.close()
            raise
        self._conn = conn

    # -- life cycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database; safe to call more than once."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._conn is None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise OutboxError(f"outbox {self.path} is closed")
        return self._conn

    def _write(self, sql: str, rows: Iterable[Sequence[object]]) -> int:
        """Run ``sql`` for each row in one transaction; returns rows changed."""
        with self._lock:
            conn = self._db()
            try:
                conn.execute("BEGIN IMMEDIATE")
                changed = 0
                for row in rows:
                    changed += conn.execute(sql, row).rowcount
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise OutboxError(f"outbox {self.path}: write failed: {exc}") from None
            return changed

    # -- producing ---------------------------------------------------------------------------

    def append(self, event: Event) -> bool:
        """Store ``event`` durably; False when an event with its id is already stored."""
        if not isinstance(event, Event):
            raise OutboxError(f"only Event objects go into the outbox, got {type(event).__name__}")
        with self._lock:  # linked to the previous event in the transaction that stores it
            conn = self._db()
            try:
                conn.execute("BEGIN IMMEDIATE")
                stored = conn.execute(
                    "SELECT 1 FROM outbox WHERE event_id = ?", (event.id,)
                ).fetchone()
                if stored is None:
                    event = link(conn, event)
                    conn.execute(
                        "INSERT INTO outbox (event_id, body, created_at) VALUES (?, ?, ?)",
                        (event.id, event.to_json(), self._clock()),
                    )
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise OutboxError(f"outbox {self.path}: write failed: {exc}") from None
            return stored is None

    # -- consuming ---------------------------------------------------------------------------

    def pending(self, limit: int = 100) -> list[PendingEvent]:
        """Up to ``limit`` undelivered events, oldest first."""
        if limit <= 0:
            return []
        with self._lock:
            try:
                rows = self._db().execute(
                    "SELECT event_id, body, attempts, last_error FROM outbox "
                    "WHERE state = 'pending' ORDER BY seq LIMIT ?",
                    (limit,),
                ).fetchall()
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox {self.path}: read failed: {exc}") from None
        result: list[PendingEvent] = []
        unreadable: list[tuple[str, str]] = []
        for event_id, body, attempts, last_error in rows:
            try:
                result.append(PendingEvent(Event.from_json(body), attempts, last_error))
            except EventError as exc:
                unreadable.append((event_id, f"unreadable in outbox: {exc}"))
        if unreadable:
            for event_id, why in unreadable:
                logger.error("dropping event %s: %s", event_id, why)
            self._settle("dropped", unreadable)
        return result

    def mark_delivered(self, ids: Iterable[str]) -> int:
        """Mark events delivered; returns how many pending events changed."""
        return self._settle("delivered", [(i, None) for i in ids])

    def mark_dropped(self, rejected: Iterable[tuple[str, str]]) -> int:
        """Give up on ``(event_id, reason)`` events that will never be accepted."""
        return self._settle("dropped", list(rejected))

    def _settle(self, state: str, items: Sequence[tuple[str, str | None]]) -> int:
        now = self._clock()
        return self._write(
            "UPDATE outbox SET state = ?, settled_at = ?, last_error = COALESCE(?, last_error) "
            "WHERE event_id = ? AND state = 'pending'",
            [(state, now, why, event_id) for event_id, why in items],
        )

    def record_attempt(self, ids: Iterable[str], error: str | None = None) -> int:
        """Count one delivery attempt for each event (with the error when it failed)."""
        now = self._clock()
        return self._write(
            "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? "
            "WHERE event_id = ? AND state = 'pending'",
            [(now, error, event_id) for event_id in ids],
        )

    # -- housekeeping ------------------------------------------------------------------------

    def counts(self) -> OutboxCounts:
        """Events per state."""
        with self._lock:
            try:
                rows = dict(
                    self._db().execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")
                )
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox {self.path}: read failed: {exc}") from None
        return OutboxCounts(
            rows.get("pending", 0), rows.get("delivered", 0), rows.get("dropped", 0)
        )

    def purge(self, settled_before: float) -> int:
        """Delete delivered and dropped events settled before ``settled_before`` (clock time)."""
        return self._write(
            "DELETE FROM outbox WHERE state != 'pending' AND settled_at < ?",
            [(settled_before,)],
        )
