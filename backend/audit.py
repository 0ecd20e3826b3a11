"""An append-only, hash-chained audit trail of dispute steps that no API updates or deletes.

Every row names the hash of the row before it (one chain over all disputes), and its own hash
covers its sequence number, dispute, time, actor, action and details. :func:`verify` recomputes
the chain: an edited, deleted or inserted row breaks it from that row on, and the head (the
last sequence number and hash, kept in ``audit_head``) shows rows cut off at the end. Appends
take the head row's lock first, so concurrent appends (PostgreSQL) line up one after another.
The person is shown each step's hash, so even a rewrite of the whole chain after a row no longer
matches what they were shown.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from backend.context import rfc3339

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY,
    dispute_id TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_by_dispute ON audit_log(dispute_id, seq);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
"""

GENESIS = "0" * 64
_LABEL = "scanpay-audit-1"


@dataclass(frozen=True)
class AuditCheck:
    """Result of :func:`verify`: ``ok`` and, when not, the first bad row and why."""

    ok: bool
    rows: int
    head: str
    bad_seq: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Wire form ``{"ok", "rows", "head", "bad_seq", "problem"}``."""
        return {"ok": self.ok, "rows": self.rows, "head": self.head, "bad_seq": self.bad_seq,
                "problem": self.problem}


def row_hash(prev_hash: str, seq: int, dispute_id: str, at: str, actor: str, action: str,
             detail: str) -> str:
    """The chain hash of one row (``detail`` is its canonical JSON text)."""
    body = json.dumps([seq, dispute_id, at, actor, action, detail], separators=(",", ":"),
                      ensure_ascii=True)
    return hashlib.sha256(f"{_LABEL}\x1f{prev_hash}\x1f{body}".encode()).hexdigest()


def append(conn: sqlite3.Connection, dispute_id: str, *, actor: str, action: str,
           detail: dict[str, Any], now: float) -> dict[str, Any]:
    """Append one step (inside the caller's transaction); the row as written."""
    if conn.execute("SELECT 1 FROM audit_head WHERE id = 1").fetchone() is None:
        last = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
                            ).fetchone()  # a trail written before the head was kept
        conn.execute("INSERT INTO audit_head(id, seq, hash) VALUES (1, ?, ?)"
                     " ON CONFLICT (id) DO NOTHING",
                     (0, GENESIS) if last is None else (int(last["seq"]), str(last["hash"])))
    # The row lock on the head orders concurrent appends; a waiting one then sees the new head.
    conn.execute("UPDATE audit_head SET seq = seq + 1 WHERE id = 1")
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    seq, prev = int(head["seq"]), str(head["hash"])
    at = rfc3339(now)
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = row_hash(prev, seq, dispute_id, at, actor, action, text)
    conn.execute("INSERT INTO audit_log(seq, dispute_id, at, actor, action, detail, prev_hash,"
                 " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (seq, dispute_id, at, actor, action, text, prev, digest))
    conn.execute("UPDATE audit_head SET hash = ? WHERE id = 1", (digest,))
    return {"seq": seq, "dispute_id": dispute_id, "time": at, "actor": actor, "action": action,
            "detail": detail, "prev_hash": prev, "hash": digest}


def rows_of(conn: sqlite3.Connection, dispute_id: str) -> list[dict[str, Any]]:
    """The rows of one dispute, in order."""
    return [{"seq": int(r["seq"]), "dispute_id": r["dispute_id"], "time": r["at"],
             "actor": r["actor"], "action": r["action"], "detail": json.loads(r["detail"]),
             "prev_hash": r["prev_hash"], "hash": r["hash"]}
            for r in conn.execute("SELECT * FROM audit_log WHERE dispute_id = ? ORDER BY seq",
                                  (dispute_id,)).fetchall()]


def verify(conn: sqlite3.Connection) -> AuditCheck:
    """Recompute the whole chain; the first row that does not fit, if any."""
    prev = GENESIS
    n = 0
    for row in conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall():
        n += 1
        seq = int(row["seq"])
        if seq != n:
            return AuditCheck(False, n, prev, seq, f"row {n} is missing (next is {seq})")
        if row["prev_hash"] != prev:
            return AuditCheck(False, n, prev, seq, "does not name the hash of the row before")
        try:
            json.loads(row["detail"])
        except ValueError:
            return AuditCheck(False, n, prev, seq, "details are not JSON")
        expected = row_hash(prev, seq, row["dispute_id"], row["at"], row["actor"],
                            row["action"], row["detail"])
        if row["hash"] != expected:
            return AuditCheck(False, n, prev, seq, "its content does not match its hash")
        prev = expected
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    if head is not None and (int(head["seq"]) != n or head["hash"] != prev):
        return AuditCheck(False, n, prev, n + 1,
                          f"the trail ends at row {n} but its head says {int(head['seq'])}")
    return AuditCheck(True, n, prev)
