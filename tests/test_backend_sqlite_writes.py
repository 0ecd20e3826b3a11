"""SQLite writes of the back end: refusing to wait on the event loop, one writer across
processes, WAL checkpoints off the request path, and the chain check's index probes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.chain_check import SCHEMA_SQL as CHAIN_SQL
from backend.chain_check import ChainLinker
from backend.sqlite_checkpoint import Checkpointer
from backend.store import Store, StoreBusy, run_script
from tests.store_support import held_write


def _table(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)")


def test_a_brief_write_refuses_while_another_thread_writes_long(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "w.sqlite3"))
    _table(store)
    with held_write(store, "INSERT INTO t VALUES ('held', 0)"), pytest.raises(StoreBusy), \
            store.waiting_briefly(), store.transaction() as conn:
        conn.execute("INSERT INTO t VALUES ('refused', 2)")
    with store.waiting_briefly(), store.transaction() as conn:  # free now: it writes
        conn.execute("INSERT INTO t VALUES ('inline', 3)")
    with store.read() as conn:
        assert sorted(r[0] for r in conn.execute("SELECT k FROM t")) == ["held", "inline"]
    store.close()


def test_only_the_first_transaction_of_a_call_refuses(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "w.sqlite3"))
    _table(store)
    with store.waiting_briefly():
        with store.transaction() as conn:
            conn.execute("INSERT INTO t VALUES ('first', 1)")
        with held_write(store, "INSERT INTO t VALUES ('other', 0)") as release:
            timer = threading.Timer(0.2, release.set)
            timer.start()
            # The second follows a committed write: it waits for the other writer, never
            # refuses (a retry elsewhere would run the first write twice).
            with store.transaction() as conn:
                conn.execute("INSERT INTO t VALUES ('second', 2)")
    timer.join()
    with store.read() as conn:
        assert sorted(r[0] for r in conn.execute("SELECT k FROM t")) == [
            "first", "other", "second"]
    store.close()


def test_processes_sharing_a_file_take_turns_through_the_writer_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    first, second = Store(path, shared=True), Store(path, shared=True)
    _table(first)
    assert os.path.exists(path + "-writer")
    with held_write(first, "INSERT INTO t VALUES ('first', 0)"):
        # Another worker process's write is waited for, even by a write that waits only
        # briefly for threads: the kernel wakes it the moment the lock is free.
        waited: list[str] = []
        waiter = threading.Thread(target=lambda: _insert(second, "second", waited,
                                                         briefly=True))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and not waited  # blocked on the lock, not failed
    waiter.join(10)
    assert waited == ["second"]
    first.close()
    second.close()


def _insert(store: Store, key: str, done: list[str], briefly: bool = False) -> None:
    with store.waiting_briefly() if briefly else contextlib.nullcontext(), \
            store.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (?, 0)", (key,))
    done.append(key)


def test_a_write_that_may_not_wait_refuses_a_lock_held_by_another_connection(
        tmp_path: Path) -> None:
    path = str(tmp_path / "w.sqlite3")
    store = Store(path)
    _table(store)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. an operator's tool without the writer lock
    try:
        with pytest.raises(StoreBusy, match="locked"), store.waiting_briefly(), \
                store.transaction() as conn:
            conn.execute("INSERT INTO t VALUES ('x', 1)")
    finally:
        other.execute("ROLLBACK")
        other.close()
    with store.transaction() as conn:  # the busy timeout is back to waiting
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    store.close()


def test_checkpoints_leave_the_commits_and_fold_the_log_back(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite3")
    store = Store(path)
    _table(store)
    with store.transaction() as conn:
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(f"k{i}", i) for i in range(3000)])
    assert os.path.getsize(path + "-wal") > 0
    checkpointer = Checkpointer(path, truncate_bytes=1)  # any log is "too long": TRUNCATE
    conn = sqlite3.connect(path, isolation_level=None)
    checkpointer.checkpoint(conn)
    conn.close()
    assert os.path.getsize(path + "-wal") == 0 and checkpointer.checkpoints == 1
    with store.read() as reader:
        assert reader.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 3000
    store.close()


def test_the_chain_check_probes_indexes_instead_of_walking_the_terminal(
        tmp_path: Path) -> None:
    store = Store(str(tmp_path / "chain.sqlite3"))
    with store.transaction() as conn:
        run_script(conn, CHAIN_SQL)
        linker = ChainLinker(conn, "bike-1")
        prev = None
        for n in range(50):
            event = {"id": f"evt_{n}", "type": "ride.ended", "prev_hash": prev}
            linker.link(event, 0.0)
            prev = conn.execute("SELECT hash FROM event_links WHERE event_id = ?",
                                (event["id"],)).fetchone()[0]
        plan = " ".join(str(r[3]) for r in conn.raw.execute(
            "EXPLAIN QUERY PLAN SELECT EXISTS (SELECT 1 FROM event_links WHERE terminal_id = ?"
            " AND hash = ?), EXISTS (SELECT 1 FROM event_links WHERE terminal_id = ?"
            " AND prev_hash = ? AND event_id != ?)", ("bike-1", prev, "bike-1", prev, "x")))
        gaps = conn.execute("SELECT COUNT(*) FROM chain_gaps").fetchone()[0]
    assert "event_links_hash" in plan and "event_links_prev" in plan, plan
    assert gaps == 0
    store.close()


def test_score_reads_and_writes_go_on_while_another_thread_holds_a_write(
        tmp_path: Path) -> None:
    settings = BackendSettings(database=str(tmp_path / "b.sqlite3"))
    with BackendServer(settings).start() as server:
        auth = {"Authorization": f"Bearer {server.api_key_for('bike-0001')}"}
        with held_write(server.backend.store):
            # The read's own answer and a second read both come back while the write is
            # open: nothing on the event loop waits for the lock.
            for subject in ("rider-good", "rider-low", "rider-good"):
                reply = requests.get(f"{server.url}/v1/subjects/{subject}/score",
                                     headers=auth, timeout=5)
                assert reply.status_code == 200


def test_one_checkpointer_per_file_and_the_role_passes_on(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite3")
    store = Store(path)
    _table(store)
    first, second = Checkpointer(path).start(), Checkpointer(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert first.owns_the_file() and not second.owns_the_file()
        second.checkpoint(conn)  # another process's turn: nothing done
        assert second.checkpoints == 0
        first.stop()  # a stopping (or dying) owner hands the role on
        assert second.owns_the_file()
        second.checkpoint(conn)
        assert second.checkpoints == 1
    finally:
        conn.close()
        second.stop()
        store.close()
