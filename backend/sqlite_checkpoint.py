"""WAL checkpoints of a SQLite store, off the request path.

SQLite folds its write-ahead log back into the database file (a *checkpoint*) inside whichever
COMMIT crosses 1,000 log pages: that commit copies the pages and syncs the file, and every
writer queued behind it waits (measured: a 10-event batch's commit took 2-2.7 ms with automatic
checkpoints, 0.5-0.8 ms without). A :class:`Checkpointer` turns the automatic checkpoint off on
the writer's connection and runs it on a thread of its own, on its own connection, every
``interval_s``: first ``PASSIVE`` (it neither waits for nor blocks readers and writers: it copies
almost everything), then, holding the writers' lock (``<file>-writer``, the ``flock`` every
writer of the store takes), ``RESTART``: it copies the few pages written meanwhile, waits at
most :data:`RESTART_WAIT_MS` for readers, and lets the next writer start the log from its
beginning; writers queue in the kernel meanwhile, for a few milliseconds. Without that second
step a log written to without pause is never found fully copied, so it is never restarted: it
grew to 64 MB in a few seconds under ``bench load``, and each forced truncation then stalled
every writer for a few hundred milliseconds. ``TRUNCATE`` still applies past ``truncate_bytes``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading

log = logging.getLogger(__name__)

INTERVAL_S = 0.5
TRUNCATE_BYTES = 64 * 1024 * 1024
# How long the RESTART step waits for readers and the current writer before giving up (it is
# tried again next round).
RESTART_WAIT_MS = 20
BUSY_TIMEOUT_MS = 5000


class Checkpointer:
    """A daemon thread checkpointing one SQLite file's WAL; :meth:`stop` ends it."""

    def __init__(self, path: str, *, lock_path: str | None = None,
                 interval_s: float = INTERVAL_S, truncate_bytes: int = TRUNCATE_BYTES) -> None:
        self.path = path
        # The writers' lock (None: writers are not held back; the RESTART step may then find
        # one busy and wait for the next round).
        self.lock_path = lock_path
        self.interval_s = interval_s
        self.truncate_bytes = truncate_bytes
        self.checkpoints = 0
        # Several processes serve one file: only the one holding <file>-checkpointer
        # checkpoints (two would copy the same pages and hold writers back twice as often).
        self._role_fd: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> Checkpointer:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def owns_the_file(self) -> bool:
        """Whether this checkpointer is the file's (it takes the role once free and keeps it
        until it stops; a process that dies hands it to the next one)."""
        if self._role_fd is not None:
            return True
        fd = os.open(f"{self.path}-checkpointer", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._role_fd = fd
        return True

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One round: PASSIVE, then RESTART (TRUNCATE past the size limit) holding the
        writers' lock; nothing when another process checkpoints this file."""
        if not self.owns_the_file():
            return
        try:
            size = os.path.getsize(f"{self.path}-wal")
        except OSError:
            return  # no log yet (or the file is gone: the store is closing)
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        mode = "TRUNCATE" if size > self.truncate_bytes else "RESTART"
        lock = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600) \
            if self.lock_path else None
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            conn.execute(f"PRAGMA busy_timeout = {RESTART_WAIT_MS}")
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if lock is not None:
                os.close(lock)  # releases the lock
        self.checkpoints += 1

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("WAL checkpoints of %s are off: %s", self.path, exc)
            return
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    self.checkpoint(conn)
                except sqlite3.Error as exc:  # busy or closing: the next round tries again
                    log.debug("checkpoint of %s: %s", self.path, exc)
            with contextlib.suppress(sqlite3.Error):
                self.checkpoint(conn)  # leave the log short for the next start
        finally:
            conn.close()
            if self._role_fd is not None:
                os.close(self._role_fd)  # hands the role on
                self._role_fd = None

    def stop(self) -> None:
        """End the thread after one last checkpoint; safe to call more than once."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)
        if not self._thread.is_alive() and self._role_fd is not None:  # never ran its loop
            os.close(self._role_fd)
            self._role_fd = None
