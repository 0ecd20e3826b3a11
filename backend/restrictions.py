"""Restrictions with their origin: where each came from, what it depends on, and lifting.

A restriction (e.g. ``court_blacklist``) is a fact about a subject kept in the ``restrictions``
table; this module adds its id, its origin (``source``, ``reference``, ``listed_at``: a court
list entry and its reference, say) and what it depends on (another restriction or an event), so
that correcting the thing it rests on lifts it too. Ids are derived from subject and code, so a
restriction written without details (an older database) still has one.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from backend.context import rfc3339

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS restriction_details (
    subject_id TEXT NOT NULL,
    code TEXT NOT NULL,
    restriction_id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    reference TEXT,
    listed_at REAL,
    depends_on TEXT,
    lifted_at REAL,
    lifted_note TEXT,
    PRIMARY KEY (subject_id, code)
);
"""

# Origin of a restriction written without one.
UNKNOWN_SOURCE = "not recorded"


@dataclass(frozen=True)
class Restriction:
    """One restriction of a subject with its origin."""

    restriction_id: str
    subject_id: str
    code: str
    description: str
    source: str
    reference: str | None
    listed_at: float | None
    # A restriction id or an event id this restriction rests on (None: stands alone).
    depends_on: str | None
    lifted_at: float | None = None
    lifted_note: str | None = None

    @property
    def active(self) -> bool:
        """Whether the restriction still applies (not lifted)."""
        return self.lifted_at is None

    def to_json(self) -> dict[str, Any]:
        """Wire form ``{"id", "code", "description", "origin": {"source", "reference",
        "listed_at"}}`` (plus ``depends_on`` when it rests on something)."""
        body: dict[str, Any] = {
            "id": self.restriction_id, "code": self.code, "description": self.description,
            "origin": {"source": self.source, "reference": self.reference,
                       "listed_at": None if self.listed_at is None else rfc3339(self.listed_at)},
        }
        if self.depends_on is not None:
            body["depends_on"] = self.depends_on
        if self.lifted_at is not None:
            body["lifted_at"] = rfc3339(self.lifted_at)
        return body


def restriction_id(subject_id: str, code: str) -> str:
    """The id of ``subject_id``'s restriction ``code`` (stable, derived)."""
    digest = hashlib.sha256(f"scanpay-restriction\x1f{subject_id}\x1f{code}".encode()).hexdigest()
    return f"rst_{digest[:24]}"


def add_restriction(conn: sqlite3.Connection, subject_id: str, code: str, description: str, *,
                    source: str, reference: str | None = None, listed_at: float | None = None,
                    depends_on: str | None = None) -> str:
    """Record a restriction with its origin (idempotent per subject and code); its id."""
    rid = restriction_id(subject_id, code)
    conn.execute("INSERT INTO restrictions(subject_id, code, description) VALUES (?, ?, ?)"
                 " ON CONFLICT (subject_id, code) DO NOTHING", (subject_id, code, description))
    conn.execute("INSERT INTO restriction_details(subject_id, code, restriction_id, source,"
                 " reference, listed_at, depends_on) VALUES (?, ?, ?, ?, ?, ?, ?)"
                 " ON CONFLICT (subject_id, code) DO NOTHING",
                 (subject_id, code, rid, source, reference, listed_at, depends_on))
    return rid


def restrictions_of(conn: sqlite3.Connection, subject_id: str) -> list[Restriction]:
    """Every restriction of the subject, lifted ones included, by code."""
    rows = conn.execute(
        "SELECT r.code, r.description, d.source, d.reference, d.listed_at, d.depends_on,"
        " d.lifted_at, d.lifted_note FROM restrictions r LEFT JOIN restriction_details d"
        " ON d.subject_id = r.subject_id AND d.code = r.code WHERE r.subject_id = ?"
        " ORDER BY r.code", (subject_id,)).fetchall()
    return [Restriction(restriction_id(subject_id, row["code"]), subject_id, row["code"],
                        row["description"], row["source"] or UNKNOWN_SOURCE, row["reference"],
                        row["listed_at"], row["depends_on"], row["lifted_at"],
                        row["lifted_note"]) for row in rows]


def find(conn: sqlite3.Connection, subject_id: str, rid: str) -> Restriction | None:
    """The subject's restriction with id ``rid`` (None: not theirs or no such one)."""
    return next((r for r in restrictions_of(conn, subject_id) if r.restriction_id == rid), None)


def dependents(restrictions: list[Restriction], roots: Collection[str]) -> set[str]:
    """Ids of the restrictions resting, directly or through others, on any of ``roots``
    (restriction or event ids); the roots themselves are not included."""
    found: set[str] = set()
    frontier = set(roots)
    while frontier:
        nxt = {r.restriction_id for r in restrictions
               if r.depends_on in frontier and r.restriction_id not in found}
        found |= nxt
        frontier = nxt
    return found - set(roots)


def in_force(restrictions: list[Restriction], suspended_roots: Collection[str]
             ) -> list[Restriction]:
    """The active restrictions that count against the subject now: not lifted, and neither
    under review themselves nor resting on something under review (``suspended_roots``)."""
    suspended = set(suspended_roots) | dependents(restrictions, suspended_roots)
    return [r for r in restrictions if r.active and r.restriction_id not in suspended]


def lift(conn: sqlite3.Connection, subject_id: str, roots: Collection[str], *, now: float,
         note: str) -> list[str]:
    """Lift the restrictions among ``roots`` and every one resting on them; the ids lifted
    (already lifted ones are left as they are)."""
    every = restrictions_of(conn, subject_id)
    targets = {r.restriction_id for r in every if r.restriction_id in set(roots)}
    targets |= dependents(every, roots)
    lifted = []
    for r in every:
        if r.restriction_id not in targets or not r.active:
            continue
        conn.execute("INSERT INTO restriction_details(subject_id, code, restriction_id, source)"
                     " VALUES (?, ?, ?, ?) ON CONFLICT (subject_id, code) DO NOTHING",
                     (subject_id, r.code, r.restriction_id, UNKNOWN_SOURCE))
        conn.execute("UPDATE restriction_details SET lifted_at = ?, lifted_note = ?"
                     " WHERE subject_id = ? AND code = ?", (now, note, subject_id, r.code))
        lifted.append(r.restriction_id)
    return lifted
