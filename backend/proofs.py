"""Proof that a payer is present: a terminal may hold or charge only a subject it has proved.

A terminal proves a subject by resolving that subject's payment code (``/v1/payment-codes/
resolve``) or by a matched face verification. The proof belongs to that terminal only and lasts
as long as the terminal's role needs it: a bike lock charges the fare when the ride ends, hours
after the code was scanned; a kiosk charges within minutes. A charge whose reference names a
hold the same terminal placed for the same subject (a ride's fare) needs no other proof. A
kiosk's proof pays for one charge: it is used up by it (a refused charge leaves it unused).
"""

from __future__ import annotations

import sqlite3

from backend.errors import ApiError
from backend.provenance import record_served

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS payer_proofs (
    terminal_id TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    source TEXT NOT NULL,
    proved_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS payer_proofs_by_pair
    ON payer_proofs(terminal_id, subject_id, expires_at);
"""

# How long a proof lets a terminal of each role hold or charge the subject, in seconds.
PROOF_TTL_S: dict[str, float] = {"bike_lock": 24 * 3600.0, "kiosk": 600.0}
DEFAULT_TTL_S = 600.0
# Roles whose proof is used up by the charge it allowed (one payment per scan or face).
SINGLE_USE: frozenset[str] = frozenset({"kiosk"})


def record_proof(conn: sqlite3.Connection, *, terminal_id: str, role: str, subject_id: str,
                 source: str, now: float) -> None:
    """Remember that ``terminal_id`` proved ``subject_id`` (by ``"code"`` or ``"face"``)."""
    conn.execute("DELETE FROM payer_proofs WHERE expires_at <= ?", (now,))
    record_served(conn, terminal_id=terminal_id, subject_id=subject_id, now=now)
    conn.execute("INSERT INTO payer_proofs(terminal_id, subject_id, source, proved_at,"
                 " expires_at) VALUES (?, ?, ?, ?, ?)",
                 (terminal_id, subject_id, source, now,
                  now + PROOF_TTL_S.get(role, DEFAULT_TTL_S)))


def require_proof(conn: sqlite3.Connection, *, terminal_id: str, subject_id: str, now: float,
                  reference: str | None = None, use_up: bool = False) -> None:
    """Refuse (``403 payer_not_proved``) unless this terminal proved this subject recently,
    or ``reference`` names a hold it placed for the subject. ``use_up`` spends the proof."""
    row = conn.execute("SELECT proved_at, source FROM payer_proofs WHERE terminal_id = ?"
                       " AND subject_id = ? AND expires_at > ? ORDER BY proved_at LIMIT 1",
                       (terminal_id, subject_id, now)).fetchone()
    # Spending a proof is a DELETE whose row count decides: of two charges racing for one
    # proof (PostgreSQL, several workers), the second deletes nothing and is refused.
    if row is not None and (not use_up or conn.execute(
            "DELETE FROM payer_proofs WHERE terminal_id = ? AND subject_id = ? AND proved_at = ?"
            " AND source = ?", (terminal_id, subject_id, row[0], row[1])).rowcount > 0):
        return
    if reference is not None and conn.execute(
            "SELECT 1 FROM holds WHERE terminal_id = ? AND subject_id = ? AND reference = ?"
            " LIMIT 1", (terminal_id, subject_id, reference)).fetchone():
        return
    raise ApiError(403, "payer_not_proved",
                   "this terminal has not resolved a payment code or verified a face of this "
                   "payer recently; scan the payer's code first")
