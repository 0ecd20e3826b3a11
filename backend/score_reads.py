"""Which terminals read a person's score, when, for what, and what it was.

Every score read by a bike lock or a kiosk is recorded (terminal, purpose, time, score) so the
person's report can list the decisions that used their score in the last 90 days. Reads older
than :data:`KEEP_DAYS` are deleted by the retention job.

A read is noted in memory (:func:`note`, no I/O on the reading path) and written within
:data:`FLUSH_AFTER_S` (:func:`schedule_flush`, then :func:`flush`): one flush writes every read
noted meanwhile in one transaction, and only the first read noted schedules it, so under load
hundreds of reads cost one write (the writer lock is the back end's scarcest resource), and a
read never waits for a writer. The report flushes first, so it lists the reads this process
answered; another worker process's reads of the last fraction of a second may be missing.
The report flushes first, so it lists the reads this process answered.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import weakref
from typing import Any

from backend.context import Backend, on_store, rfc3339
from backend.errors import BackendError
from backend.store import StoreBusy

log = logging.getLogger(__name__)

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS score_reads (
    subject_id TEXT NOT NULL,
    at REAL NOT NULL,
    terminal_id TEXT NOT NULL,
    purpose TEXT,
    score INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS score_reads_by_subject ON score_reads(subject_id, at);
"""

# Roles whose reads decide something about the person (operators and scorers only look).
RECORDED_ROLES = frozenset({"bike_lock", "kiosk"})
PURPOSE_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
REPORT_DAYS = 90
KEEP_DAYS = 90
# Noted reads are written this long after the first of them.
FLUSH_AFTER_S = 0.25
# A flush scheduled this long ago and not yet run is given up for a new one.
RESCHEDULE_S = 2.0


def record(conn: sqlite3.Connection, *, subject_id: str, terminal_id: str,
           purpose: str | None, score: int, now: float) -> None:
    """Remember one score read."""
    conn.execute("INSERT INTO score_reads(subject_id, at, terminal_id, purpose, score)"
                 " VALUES (?, ?, ?, ?, ?)", (subject_id, now, terminal_id, purpose, score))


def recent(conn: sqlite3.Connection, subject_id: str, now: float,
           days: int = REPORT_DAYS) -> list[dict[str, Any]]:
    """The subject's score reads of the last ``days`` days, newest first (at most 500)."""
    return [{"time": rfc3339(r["at"]), "terminal_id": r["terminal_id"], "purpose": r["purpose"],
             "score": int(r["score"])}
            for r in conn.execute("SELECT at, terminal_id, purpose, score FROM score_reads"
                                  " WHERE subject_id = ? AND at >= ? ORDER BY at DESC LIMIT 500",
                                  (subject_id, now - days * 86400.0)).fetchall()]


def forget_older(conn: sqlite3.Connection, now: float, days: int = KEEP_DAYS) -> int:
    """Delete reads older than ``days`` days; how many."""
    return int(conn.execute("DELETE FROM score_reads WHERE at < ?",
                            (now - days * 86400.0,)).rowcount)


class _Pending:
    """Reads noted by one back end's process and not yet written."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str, str | None, int]] = []
        self.rows_lock = threading.Lock()
        # Flushes scheduled on the event loop and running (kept referenced until done).
        self.tasks: set[asyncio.Task[None]] = set()
        # When the flush now on its way was scheduled (None: none is).
        self.scheduled_at: float | None = None
        self.writing = threading.Lock()


_PENDING: weakref.WeakKeyDictionary[Any, _Pending] = weakref.WeakKeyDictionary()
_PENDING_LOCK = threading.Lock()


def _pending(backend: Backend) -> _Pending:
    with _PENDING_LOCK:
        found = _PENDING.get(backend.store)
        if found is None:
            found = _PENDING[backend.store] = _Pending()
        return found


def note(backend: Backend, *, subject_id: str, terminal_id: str, purpose: str | None,
         score: int) -> bool:
    """Remember a score read, to be written by the next :func:`flush` (no I/O). True when no
    flush is on its way: the caller schedules one; reads noted after it, until that flush
    takes them, ride along (no flush scheduled per read)."""
    pending, now = _pending(backend), backend.now()
    with pending.rows_lock:
        pending.rows.append((subject_id, now, terminal_id, purpose, score))
        # A flush scheduled and never run (its response never went out) is replaced after
        # RESCHEDULE_S, so no read waits for the report's flush.
        if pending.scheduled_at is None or now - pending.scheduled_at > RESCHEDULE_S:
            pending.scheduled_at = now
            return True
        return False


def schedule_flush(backend: Backend) -> None:
    """Write the noted reads :data:`FLUSH_AFTER_S` from now, on the running event loop (not
    as the response's background task: that would hold the connection's next request)."""
    loop = asyncio.get_running_loop()
    pending = _pending(backend)

    def start() -> None:
        task = loop.create_task(flush_soon(backend))
        pending.tasks.add(task)
        task.add_done_callback(pending.tasks.discard)

    loop.call_later(FLUSH_AFTER_S, start)


async def flush_soon(backend: Backend) -> None:
    """:func:`flush` from the event loop: inline for a store that runs transactions there,
    else on the thread pool."""
    try:
        await on_store(backend, lambda: flush(backend, rounds=1))
    except BackendError as exc:  # closing down (answered reads are then lost, as documented)
        log.info("score reads not recorded: %s", exc)


def flush(backend: Backend, *, wait: bool = False, rounds: int = 0) -> int:
    """Write the noted reads in one transaction; how many this call wrote. Without ``wait``,
    a flush already running elsewhere is left to write them (it looks again before it stops).
    ``rounds``: at most that many transactions (0: until none is left; reads noted during
    the last one schedule a flush of their own)."""
    pending = _pending(backend)
    written = done = 0
    while pending.rows and (not rounds or done < rounds):
        done += 1
        if not pending.writing.acquire(blocking=wait):
            return written
        try:
            try:
                # The transaction first, then the rows: a write that refuses to wait
                # (backend.store.StoreBusy) leaves them noted for the retry.
                with backend.store.transaction() as conn:
                    with pending.rows_lock:
                        rows, pending.rows = pending.rows, []
                        pending.scheduled_at = None
                    for subject_id, at, terminal_id, purpose, score in rows:
                        record(conn, subject_id=subject_id, terminal_id=terminal_id,
                               purpose=purpose, score=score, now=at)
            except StoreBusy:
                raise
            except BackendError:  # closing down: the reads were answered, records lost
                return written
            written += len(rows)
        finally:
            pending.writing.release()
    return written
