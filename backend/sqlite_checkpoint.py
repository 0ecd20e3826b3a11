"""WAL checkpoints of a SQLite store, off the request path.

SQLite folds its write-ahead log back into the database file (a *checkpoint*) inside whichever
COMMIT crosses 1,000 log pages: that commit copies the pages and syncs the file, and every
writer queued behind it waits (measured: a 10-event batch's commit took 2-2.7 ms with automatic
checkpoints, 0.5-0.8 ms without). A :class:`Checkpointer` turns the automatic checkpoint off on
the writer's connection and runs it on a thread of its own, on its own connection, every
``interval_s``: ``PASSIVE`` (it neither waits for nor blocks readers and writers) while the log
is small, ``TRUNCATE`` once it passes ``truncate_bytes`` (readers that keep the log busy cannot
grow it without bound).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading

log = logging.getLogger(__name__)

INTERVAL_S = 0.5
TRUNCATE_BYTES = 64 * 1024 * 1024


class Checkpointer:
    """A daemon thread checkpointing one SQLite file's WAL; :meth:`stop` ends it."""

    def __init__(self, path: str, *, interval_s: float = INTERVAL_S,
                 truncate_bytes: int = TRUNCATE_BYTES) -> None:
        self.path = path
        self.interval_s = interval_s
        self.truncate_bytes = truncate_bytes
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> Checkpointer:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One checkpoint: PASSIVE, or TRUNCATE when the log has grown past the limit."""
        try:
            size = os.path.getsize(f"{self.path}-wal")
        except OSError:
            return  # no log yet (or the file is gone: the store is closing)
        mode = "TRUNCATE" if size > self.truncate_bytes else "PASSIVE"
        conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        self.checkpoints += 1

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None,
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

    def stop(self) -> None:
        """End the thread after one last checkpoint; safe to call more than once."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)
