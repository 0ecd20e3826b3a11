"""Each subject's score kept incrementally: counts per factor, updated as events are stored.

An event is counted in the same transaction that stores it, and only when its id is new, so a
duplicate never counts twice and the order of arrival does not matter (counts commute). A read
is one indexed lookup of at most one row per factor, whatever the length of the history.
``tests/test_backend_score_state.py`` checks the counts against :func:`scoring.score_events`
run from scratch over random histories with duplicates and out-of-order arrival.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from backend.scoring import Factor, factors_of, score_from_counts

log = logging.getLogger(__name__)

# Bump when the scoring rule changes: the counts are then rebuilt from the stored events.
STATE_VERSION = 1

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS score_counts (
    subject_id TEXT NOT NULL,
    factor TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (subject_id, factor)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS score_state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


def add_event(conn: sqlite3.Connection, event: Mapping[str, Any], *, now: float) -> bool:
    """Store ``event`` (wire form) once and count it towards its subject's score; False when
    an event with its id is already stored (nothing changes then)."""
    attributes = event.get("attributes") or {}
    cur = conn.execute(
        "INSERT INTO events(event_id, type, time, terminal_id, subject_id,"
        " attributes, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (event_id) DO NOTHING",
        (event["id"], event["type"], event["time"], event["terminal_id"],
         event.get("subject_id"), json.dumps(attributes, sort_keys=True), now))
    if cur.rowcount != 1:
        return False
    subject = event.get("subject_id")
    if subject is not None:
        _count(conn, subject, factors_of(event["type"], attributes))
    return True


def _count(conn: sqlite3.Connection, subject_id: str, factors: tuple[str, ...]) -> None:
    for factor in factors:
        conn.execute("INSERT INTO score_counts(subject_id, factor, n) VALUES (?, ?, 1)"
                     " ON CONFLICT(subject_id, factor) DO UPDATE SET n = n + 1",
                     (subject_id, factor))


def counts_of(conn: sqlite3.Connection, subject_id: str) -> dict[str, int]:
    """Factor -> how many of the subject's events count towards it."""
    return {str(r[0]): int(r[1]) for r in conn.execute(
        "SELECT factor, n FROM score_counts WHERE subject_id = ?", (subject_id,))}


def read_score(conn: sqlite3.Connection, subject_id: str) -> tuple[int, list[Factor]]:
    """The subject's score and factors from its kept counts (O(1) in its history)."""
    return score_from_counts(counts_of(conn, subject_id))


def rebuild(conn: sqlite3.Connection) -> int:
    """Recount every subject from the stored events (schema upgrade or rule change); returns
    how many events were read."""
    conn.execute("DELETE FROM score_counts")
    read = 0
    for row in conn.execute("SELECT subject_id, type, attributes FROM events"
                            " WHERE subject_id IS NOT NULL"):
        read += 1
        _count(conn, row[0], factors_of(row[1], json.loads(row[2])))
    conn.execute("INSERT INTO score_state(name, value) VALUES ('version', ?)"
                 " ON CONFLICT (name) DO UPDATE SET value = excluded.value", (STATE_VERSION,))
    return read


def ensure_current(conn: sqlite3.Connection) -> None:
    """Rebuild the counts when they were kept by another rule version (or never kept)."""
    row = conn.execute("SELECT value FROM score_state WHERE name = 'version'").fetchone()
    if row is None or int(row[0]) != STATE_VERSION:
        read = rebuild(conn)
        log.info("score counts rebuilt from %d stored events", read)
