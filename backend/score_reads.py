"""Which terminals read a person's score, when, for what, and what it was.

Every score read by a bike lock or a kiosk is recorded (terminal, purpose, time, score) so the
person's report can list the decisions that used their score in the last 90 days. Reads older
than :data:`KEEP_DAYS` are deleted by the retention job.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.context import rfc3339

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
