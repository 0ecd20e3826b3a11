"""Face-data retention: templates unused for the retention period are deleted, leaving only a
tombstone ``{subject, deleted_at, reason}``.

"Use" is the enrollment itself or a matched verification, whichever is later. A template is
also deleted when its consent's own retention period ends, and on the person's request
(``POST /v1/face/enrollments:delete``); every deletion leaves a tombstone, which the person's
report shows. Run it from a timer with ``scanpay backend retention run --db FILE``
(``--dry-run`` lists what would go). Score reads older than 90 days are deleted on the same run.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from backend import score_reads
from backend.context import rfc3339

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS face_tombstones (
    subject_id TEXT NOT NULL,
    deleted_at REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS face_tombstones_by_subject ON face_tombstones(subject_id, deleted_at);
"""

DEFAULT_RETENTION_DAYS = 1095


@dataclass(frozen=True)
class RetentionRun:
    """What one run deleted (or, on a dry run, would delete)."""

    dry_run: bool
    retention_days: int
    checked: int
    # (subject id, last use as unix time) of each template deleted.
    deleted: tuple[tuple[str, float], ...] = ()
    score_reads_deleted: int = 0
    ran_at: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """``{"dry_run", "retention_days", "checked", "deleted": [{"subject_id",
        "last_used_at"}], "score_reads_deleted", "ran_at"}``."""
        return {"dry_run": self.dry_run, "retention_days": self.retention_days,
                "checked": self.checked,
                "deleted": [{"subject_id": s, "last_used_at": rfc3339(t)}
                            for s, t in self.deleted],
                "score_reads_deleted": self.score_reads_deleted, "ran_at": rfc3339(self.ran_at)}


def record_tombstone(conn: sqlite3.Connection, subject_id: str, now: float, reason: str) -> None:
    """Leave the record that ``subject_id``'s template was deleted, when and why."""
    conn.execute("INSERT INTO face_tombstones(subject_id, deleted_at, reason) VALUES (?, ?, ?)",
                 (subject_id, now, reason))


def last_tombstone(conn: sqlite3.Connection, subject_id: str) -> dict[str, Any] | None:
    """The latest tombstone of ``subject_id``: ``{"subject_id", "deleted_at", "reason"}``."""
    row = conn.execute("SELECT deleted_at, reason FROM face_tombstones WHERE subject_id = ?"
                       " ORDER BY deleted_at DESC LIMIT 1", (subject_id,)).fetchone()
    if row is None:
        return None
    return {"subject_id": subject_id, "deleted_at": rfc3339(row["deleted_at"]),
            "reason": row["reason"]}


def remove_template(conn: sqlite3.Connection, enrollment_id: str, subject_id: str, now: float,
                    reason: str, *, tombstone: bool = True) -> int:
    """Delete a template and its visit history and end its consent record (kept as proof);
    leave a tombstone unless it is being replaced. How many templates were deleted."""
    n = conn.execute("DELETE FROM face_enrollments WHERE enrollment_id = ?",
                     (enrollment_id,)).rowcount
    conn.execute("DELETE FROM face_attempts WHERE subject_id = ?", (subject_id,))
    conn.execute("UPDATE face_consents SET ended_at = ?, end_reason = ? WHERE enrollment_id = ?",
                 (now, reason, enrollment_id))
    if tombstone and n:
        record_tombstone(conn, subject_id, now, reason)
    return int(n)


def last_used(conn: sqlite3.Connection, subject_id: str, created_at: float) -> float:
    """When the subject's template was last used: its enrollment or its latest match."""
    row = conn.execute("SELECT MAX(at) AS at FROM face_attempts WHERE subject_id = ?"
                       " AND matched = 1", (subject_id,)).fetchone()
    latest = row["at"] if row is not None else None
    return max(float(created_at), float(latest)) if latest is not None else float(created_at)


def run(conn: sqlite3.Connection, *, now: float, retention_days: int = DEFAULT_RETENTION_DAYS,
        dry_run: bool = False) -> RetentionRun:
    """Delete every template unused for ``retention_days`` (tombstone each) and score reads
    older than 90 days; with ``dry_run`` only report what would go."""
    if not 1 <= retention_days <= 3650:
        raise ValueError("retention_days must be 1..3650")
    cutoff = now - retention_days * 86400.0
    rows = conn.execute("SELECT enrollment_id, subject_id, created_at FROM face_enrollments"
                        " ORDER BY created_at").fetchall()
    doomed = []
    for row in rows:
        used = last_used(conn, row["subject_id"], row["created_at"])
        if used < cutoff:
            doomed.append((row["enrollment_id"], row["subject_id"], used))
    reads = 0
    if not dry_run:
        for enrollment_id, subject_id, _ in doomed:
            remove_template(conn, enrollment_id, subject_id, now,
                            f"unused for {retention_days} days")
        reads = score_reads.forget_older(conn, now)
    return RetentionRun(dry_run, retention_days, len(rows),
                        tuple((s, u) for _, s, u in doomed), reads, now)
