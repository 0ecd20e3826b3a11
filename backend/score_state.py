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
from collections.abc import Mapping, Sequence
from typing import Any

from backend.scoring import (
    BASE_SCORE,
    RULES,
    RULES_BY_FACTOR,
    Factor,
    counted_limit,
    event_points,
    factor_text,
    factors_of,
    score_from_counts,
)

log = logging.getLogger(__name__)

# Bump when the scoring rule changes: the counts are then rebuilt from the stored events.
# Version 2 keeps, besides the counts, each counting event (``score_items``) so a score
# names the events behind each factor, and leaves disputed or corrected events out.
STATE_VERSION = 2

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
CREATE TABLE IF NOT EXISTS score_items (
    event_id TEXT NOT NULL,
    factor TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    time TEXT NOT NULL,
    active INTEGER NOT NULL,
    PRIMARY KEY (event_id, factor)
);
CREATE INDEX IF NOT EXISTS score_items_by_subject
    ON score_items(subject_id, factor, active, time, event_id);
CREATE TABLE IF NOT EXISTS score_exclusions (
    event_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    status TEXT NOT NULL,
    since REAL NOT NULL
);
"""

# Status of an excluded event: under review (suspended) or corrected (removed for good).
EXCLUDED_STATUSES = ("disputed", "corrected")


def add_event(conn: sqlite3.Connection, event: Mapping[str, Any], *, now: float) -> bool:
    """Store ``event`` (wire form) once and count it towards its subject's score; False when
    an event with its id is already stored (nothing changes then)."""
    attributes = event.get("attributes") or {}
    return event["id"] in add_events(
        conn, [(event, json.dumps(attributes, sort_keys=True),
                factors_of(event["type"], attributes))], now=now)


# Rows per multi-row INSERT (7 values each: far below either database's parameter limit).
_ROWS_PER_INSERT = 100


def add_events(conn: sqlite3.Connection,
               items: Sequence[tuple[Mapping[str, Any], str, tuple[str, ...]]], *,
               now: float) -> set[str]:
    """:func:`add_event` for several events at once, each with its attributes as stored
    (sorted-key JSON) and its factors (:func:`backend.scoring.factors_of`): one multi-row
    insert (``RETURNING`` the ids that were new) and one statement each for the score items
    and counts, instead of several statements per event. Returns the ids stored now (an id
    already stored counts nothing, whichever transaction stored it)."""
    inserted: set[str] = set()
    for start in range(0, len(items), _ROWS_PER_INSERT):
        chunk = items[start:start + _ROWS_PER_INSERT]
        values = [v for event, attributes_json, _ in chunk for v in (
            event["id"], event["type"], event["time"], event["terminal_id"],
            event.get("subject_id"), attributes_json, now)]
        inserted |= {str(r[0]) for r in conn.execute(
            "INSERT INTO events(event_id, type, time, terminal_id, subject_id, attributes,"
            " received_at) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            + " ON CONFLICT (event_id) DO NOTHING RETURNING event_id", values)}
    score_items: list[tuple[str, str, str, str, int]] = []
    counts: dict[tuple[str, str], int] = {}
    counted: set[str] = set()
    for event, _, factors in items:
        subject = event.get("subject_id")
        if event["id"] not in inserted or event["id"] in counted or subject is None:
            continue  # stored before, a second copy in this batch, or nobody's event
        counted.add(event["id"])
        for factor in factors:
            score_items.append((event["id"], factor, subject, event["time"], 1))
            counts[(subject, factor)] = counts.get((subject, factor), 0) + 1
    if score_items:
        conn.executemany("INSERT INTO score_items(event_id, factor, subject_id, time, active)"
                         " VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id, factor) DO NOTHING",
                         score_items)
    if counts:
        conn.executemany("INSERT INTO score_counts(subject_id, factor, n) VALUES (?, ?, ?)"
                         " ON CONFLICT(subject_id, factor) DO UPDATE SET n = score_counts.n + ?",
                         [(subject, factor, n, n) for (subject, factor), n in counts.items()])
    return inserted


def _count(conn: sqlite3.Connection, subject_id: str, factors: tuple[str, ...],
           event_id: str, time: str, *, active: bool = True) -> None:
    for factor in factors:
        conn.execute("INSERT INTO score_items(event_id, factor, subject_id, time, active)"
                     " VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id, factor) DO NOTHING",
                     (event_id, factor, subject_id, time, int(active)))
        if active:
            _add_to_count(conn, subject_id, factor, 1)


def _add_to_count(conn: sqlite3.Connection, subject_id: str, factor: str, delta: int) -> None:
    conn.execute("INSERT INTO score_counts(subject_id, factor, n) VALUES (?, ?, ?)"
                 " ON CONFLICT(subject_id, factor) DO UPDATE SET n = score_counts.n + ?",
                 (subject_id, factor, max(delta, 0), delta))


def exclude_event(conn: sqlite3.Connection, event_id: str, status: str, *, now: float) -> bool:
    """Stop ``event_id`` counting towards its subject's score (``status``: ``disputed`` while
    under review, ``corrected`` for good); False when it never counted for any factor."""
    if status not in EXCLUDED_STATUSES:
        raise ValueError(f"status must be one of {EXCLUDED_STATUSES}")
    items = conn.execute("SELECT factor, subject_id, active FROM score_items"
                         " WHERE event_id = ?", (event_id,)).fetchall()
    if not items:
        return False
    conn.execute("INSERT INTO score_exclusions(event_id, subject_id, status, since)"
                 " VALUES (?, ?, ?, ?) ON CONFLICT (event_id) DO UPDATE"
                 " SET status = excluded.status, since = excluded.since",
                 (event_id, items[0]["subject_id"], status, now))
    for item in items:
        if int(item["active"]):
            conn.execute("UPDATE score_items SET active = 0 WHERE event_id = ? AND factor = ?",
                         (event_id, item["factor"]))
            _add_to_count(conn, item["subject_id"], item["factor"], -1)
    return True


def restore_event(conn: sqlite3.Connection, event_id: str) -> bool:
    """Count an excluded event again (a dispute upheld); False when it was not excluded."""
    if conn.execute("DELETE FROM score_exclusions WHERE event_id = ?",
                    (event_id,)).rowcount != 1:
        return False
    for item in conn.execute("SELECT factor, subject_id, active FROM score_items"
                             " WHERE event_id = ?", (event_id,)).fetchall():
        if not int(item["active"]):
            conn.execute("UPDATE score_items SET active = 1 WHERE event_id = ? AND factor = ?",
                         (event_id, item["factor"]))
            _add_to_count(conn, item["subject_id"], item["factor"], 1)
    return True


def exclusion_of(conn: sqlite3.Connection, event_id: str) -> str | None:
    """``disputed`` or ``corrected`` when ``event_id`` is left out of its score, else None."""
    row = conn.execute("SELECT status FROM score_exclusions WHERE event_id = ?",
                       (event_id,)).fetchone()
    return None if row is None else str(row["status"])


def counts_of(conn: sqlite3.Connection, subject_id: str) -> dict[str, int]:
    """Factor -> how many of the subject's events count towards it."""
    return {str(r[0]): int(r[1]) for r in conn.execute(
        "SELECT factor, n FROM score_counts WHERE subject_id = ?", (subject_id,))}


def read_score(conn: sqlite3.Connection, subject_id: str) -> tuple[int, list[Factor]]:
    """The subject's score and factors from its kept counts (O(1) in its history)."""
    return score_from_counts(counts_of(conn, subject_id))


def scorecard(conn: sqlite3.Connection, subject_id: str) -> tuple[int, list[Factor], int]:
    """The score, its factors with the events that counted (in time order), and the points
    the 350..950 clamp added (usually 0): ``score == 600 + sum(points) + clamp_points``.

    Reads at most one row per factor and the few events each cap lets count, whatever the
    length of the history.
    """
    counts = counts_of(conn, subject_id)
    factors: list[Factor] = []
    for rule in RULES:
        n = counts.get(rule.factor, 0)
        if n <= 0:
            continue
        rows = conn.execute(
            "SELECT event_id FROM score_items WHERE subject_id = ? AND factor = ? AND active = 1"
            " ORDER BY time, event_id LIMIT ?",
            (subject_id, rule.factor, counted_limit(rule))).fetchall()
        points = event_points(rule, len(rows))
        ids = tuple(str(r["event_id"]) for r, p in zip(rows, points, strict=True) if p != 0)
        factors.append(Factor(rule.factor, rule.describe(n), sum(points),
                              factor_text(rule, n), ids))
    factors.sort(key=lambda f: -abs(f.points))
    score, _ = score_from_counts(counts)
    return score, factors, score - BASE_SCORE - sum(f.points for f in factors)


def scored_items(conn: sqlite3.Connection, subject_id: str, factors: list[Factor],
                 under_review: frozenset[str] = frozenset(),
                 limit: int = 2000) -> list[dict[str, Any]]:
    """Every event of the subject the rule scores, oldest first, each with its factor, the
    points it adds now and its status: ``counted``, ``capped`` (past the factor's cap: 0
    points), ``disputed`` (under review: ``under_review`` or suspended) or ``corrected``
    (removed). ``factors`` come from :func:`scorecard`. Past ``limit`` events only the ones
    that count, or that a dispute touched, are added, so the listed points always add up."""
    counted: dict[tuple[str, str], int] = {}
    for factor in factors:
        rule_points = event_points(RULES_BY_FACTOR[factor.code], len(factor.event_ids))
        counted.update({(eid, factor.code): p
                        for eid, p in zip(factor.event_ids, rule_points, strict=True)})
    columns = ("SELECT i.event_id, i.factor, i.active, e.type, e.time, e.terminal_id, x.status"
               " FROM score_items i JOIN events e ON e.event_id = i.event_id"
               " LEFT JOIN score_exclusions x ON x.event_id = i.event_id")
    rows = conn.execute(f"{columns} WHERE i.subject_id = ? ORDER BY i.time, i.event_id LIMIT ?",
                        (subject_id, limit)).fetchall()
    if len(rows) == limit:  # a long history: make sure nothing that counts is left out
        seen = {(str(r["event_id"]), str(r["factor"])) for r in rows}
        wanted = {eid for eid, _ in counted} | set(under_review) | {
            str(r["event_id"]) for r in conn.execute(
                "SELECT event_id FROM score_exclusions WHERE subject_id = ?",
                (subject_id,)).fetchall()}
        for event_id in sorted(wanted):
            rows.extend(r for r in conn.execute(f"{columns} WHERE i.event_id = ?",
                                                (event_id,)).fetchall()
                        if (str(r["event_id"]), str(r["factor"])) not in seen)
        rows.sort(key=lambda r: (str(r["time"]), str(r["event_id"])))
    items = []
    for row in rows:
        key = (str(row["event_id"]), str(row["factor"]))
        if row["status"] is not None and not int(row["active"]):
            status = str(row["status"])
        elif key[0] in under_review:
            status = "disputed"
        else:
            status = "counted" if key in counted else "capped"
        items.append({"id": key[0], "type": row["type"], "time": row["time"],
                      "terminal_id": row["terminal_id"], "factor": key[1],
                      "points": counted.get(key, 0), "status": status})
    return items


def rebuild(conn: sqlite3.Connection) -> int:
    """Recount every subject from the stored events (schema upgrade or rule change); returns
    how many events were read. Events a dispute excluded stay excluded."""
    conn.execute("DELETE FROM score_counts")
    conn.execute("DELETE FROM score_items")
    excluded = {str(r["event_id"]) for r in conn.execute(
        "SELECT event_id FROM score_exclusions").fetchall()}
    read = 0
    for row in conn.execute("SELECT event_id, time, subject_id, type, attributes FROM events"
                            " WHERE subject_id IS NOT NULL").fetchall():
        read += 1
        _count(conn, row["subject_id"], factors_of(row["type"], json.loads(row["attributes"])),
               row["event_id"], row["time"], active=row["event_id"] not in excluded)
    conn.execute("INSERT INTO score_state(name, value) VALUES ('version', ?)"
                 " ON CONFLICT (name) DO UPDATE SET value = excluded.value", (STATE_VERSION,))
    return read


def ensure_current(conn: sqlite3.Connection) -> None:
    """Rebuild the counts when they were kept by another rule version (or never kept)."""
    row = conn.execute("SELECT value FROM score_state WHERE name = 'version'").fetchone()
    if row is None or int(row[0]) != STATE_VERSION:
        read = rebuild(conn)
        log.info("score counts rebuilt from %d stored events", read)
