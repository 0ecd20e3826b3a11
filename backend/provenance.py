"""Event provenance: which kinds of event a role may send, and for which subjects.

A bike lock or kiosk may send an event about a subject only when it *served* that subject: it
resolved the subject's payment code, matched the subject's face, or holds a hold or charge of
the subject. Events without a subject (``terminal.started``, a rejected code) need no service.
Each role sends only the kinds of event its work produces: a kiosk cannot end a ride and a bike
lock cannot enroll a face. A scorer (a back-office service) may report parking only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS served_subjects (
    terminal_id TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    first_at REAL NOT NULL,
    PRIMARY KEY (terminal_id, subject_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS holds_by_terminal_subject ON holds(terminal_id, subject_id);
CREATE INDEX IF NOT EXISTS charges_by_terminal_subject ON charges(terminal_id, subject_id);
"""

_COMMON = frozenset({"terminal.started", "code.rejected", "payment.captured",
                     "payment.declined", "payment.refunded"})
# Event kinds each role may send.
ROLE_EVENT_TYPES: Mapping[str, frozenset[str]] = {
    "bike_lock": _COMMON | {"ride.started", "ride.ended", "deposit.held", "deposit.released",
                            "deposit.captured", "deposit.waived", "deposit.declined",
                            "unlock.failed", "parking.reported"},
    "kiosk": _COMMON | {"liveness.failed", "face.verified", "face.rejected", "face.enrolled",
                        "face.deleted", "order.paid", "order.cancelled"},
    "scorer": frozenset({"parking.reported"}),
}
# Roles whose events need no service of the subject (a known subject is enough).
UNBOUND_ROLES: frozenset[str] = frozenset({"scorer"})


def record_served(conn: sqlite3.Connection, *, terminal_id: str, subject_id: str,
                  now: float) -> None:
    """Remember that ``terminal_id`` served ``subject_id`` (a code resolved, a face matched)."""
    conn.execute("INSERT INTO served_subjects(terminal_id, subject_id, first_at)"
                 " VALUES (?, ?, ?) ON CONFLICT (terminal_id, subject_id) DO NOTHING",
                 (terminal_id, subject_id, now))


def served(conn: sqlite3.Connection, terminal_id: str, subject_id: str) -> bool:
    """Whether ``terminal_id`` served ``subject_id`` (proof, hold or charge on record)."""
    for table in ("served_subjects", "holds", "charges"):
        if conn.execute(f"SELECT 1 FROM {table} WHERE terminal_id = ? AND subject_id = ?"
                        " LIMIT 1", (terminal_id, subject_id)).fetchone() is not None:
            return True
    return False


def served_among(conn: sqlite3.Connection, terminal_id: str, subjects: set[str]) -> set[str]:
    """Which of ``subjects`` have a served-subjects record of ``terminal_id`` (one statement;
    a subject missing here may still be served through a hold or charge: :func:`served`)."""
    if not subjects:
        return set()
    ordered = sorted(subjects)
    return {str(r[0]) for r in conn.execute(
        "SELECT subject_id FROM served_subjects WHERE terminal_id = ? AND subject_id IN"
        f" ({', '.join('?' * len(ordered))})", (terminal_id, *ordered))}


def refusal(conn: sqlite3.Connection, role: str, terminal_id: str,
            event: Mapping[str, Any], *, known_served: set[str] | None = None) -> str | None:
    """Why a well-formed ``event`` from ``terminal_id`` (``role``) is refused, or None.
    ``known_served``: subjects already known to be served (:func:`served_among`)."""
    kinds = ROLE_EVENT_TYPES.get(role, frozenset())
    if event["type"] not in kinds:
        return f"kind_not_allowed: a {role} terminal may not send {event['type']!r} events"
    subject = event.get("subject_id")
    if subject is None:
        return None
    if role in UNBOUND_ROLES:
        if conn.execute("SELECT 1 FROM subjects WHERE subject_id = ?",
                        (subject,)).fetchone() is None:
            return "unknown_subject: no such subject"
        return None
    if (known_served is None or subject not in known_served) \
            and not served(conn, terminal_id, subject):
        return ("not_served: this terminal has no resolved code, face match, hold or charge "
                "of this subject")
    return None
