"""Disputes: a person contests an event or a restriction; an operator upholds or corrects it.

Service functions shared by the HTTP routes (:mod:`backend.routes_person`) and the operator
console. Each takes the :class:`~backend.context.Backend` and, optionally, an open write
transaction ``conn`` (without one it opens its own). Errors are :class:`~backend.errors.ApiError`
with the codes of docs/api.md ("Disputes").

While a dispute is under review its item does not count against the person
(``BackendSettings.suspend_disputed_items``, on by default): a disputed event leaves the score
and a disputed restriction (and any resting on it) is not reported to terminals. A correction
removes the event for good (or lifts the restriction and those resting on it), and the score is
recomputed from the kept counts; an upheld dispute puts the item back. Every step is appended
to the audit trail (:mod:`backend.audit`).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from backend import audit, restrictions
from backend.audit import AuditCheck
from backend.context import Backend, rfc3339
from backend.errors import ApiError
from backend.score_state import exclude_event, exclusion_of, restore_event, scorecard

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS disputes (
    dispute_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    item_kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_at REAL NOT NULL,
    score_at_open INTEGER NOT NULL,
    decided_at REAL,
    decided_by TEXT,
    score_after INTEGER,
    lifted TEXT
);
CREATE INDEX IF NOT EXISTS disputes_by_subject ON disputes(subject_id, opened_at);
CREATE INDEX IF NOT EXISTS disputes_by_status ON disputes(status, opened_at);
CREATE INDEX IF NOT EXISTS disputes_by_item ON disputes(item_id, status);
"""

ItemKind = Literal["event", "restriction"]
Outcome = Literal["upheld", "corrected"]
STATUSES = ("under_review", "upheld", "corrected")
MAX_REASON = 2000
MAX_NOTE = 2000
PERSON_ACTOR = "person"

T = TypeVar("T")


@contextmanager
def _tx(backend: Backend, conn: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
    if conn is not None:
        yield conn
        return
    with backend.store.transaction() as own:
        yield own


def _in_tx(backend: Backend, conn: sqlite3.Connection | None,
           work: Callable[[sqlite3.Connection], T]) -> T:
    with _tx(backend, conn) as c:
        return work(c)


def open_dispute(backend: Backend, subject_id: str, item: dict[str, Any], reason: str, *,
                 conn: sqlite3.Connection | None = None) -> dict[str, Any]:
    """Open a dispute of ``subject_id`` on ``item`` (``{"kind": "event"|"restriction",
    "id"}``) with a free-text ``reason`` (1..2000 characters); the dispute as recorded.

    ``404 unknown_item``: no such event or restriction of this person (someone else's looks
    the same); ``409 dispute_open``: one is already under review; ``409 already_corrected``;
    ``422 not_disputable``: the event never affects a score.
    """
    kind, item_id = _item(item)
    text = _reason(reason)
    return _in_tx(backend, conn, lambda c: _open(c, backend, subject_id, kind, item_id, text))


def list_disputes(backend: Backend, *, subject_id: str | None = None,
                  status: str | None = None, limit: int = 500,
                  conn: sqlite3.Connection | None = None) -> list[dict[str, Any]]:
    """Disputes, oldest first: of one subject, in one status, or all (at most ``limit``)."""
    if status is not None and status not in STATUSES:
        raise ApiError(400, "invalid_status", f"status must be one of {', '.join(STATUSES)}")
    where, args = [], []
    if subject_id is not None:
        where.append("subject_id = ?")
        args.append(subject_id)
    if status is not None:
        where.append("status = ?")
        args.append(status)
    sql = "SELECT * FROM disputes" + (" WHERE " + " AND ".join(where) if where else "") + \
        " ORDER BY opened_at, dispute_id LIMIT ?"

    def work(c: sqlite3.Connection) -> list[dict[str, Any]]:
        return [_to_json(c, row) for row in c.execute(sql, (*args, limit)).fetchall()]
    return _in_tx(backend, conn, work)


def get_dispute(backend: Backend, dispute_id: str, *, subject_id: str | None = None,
                conn: sqlite3.Connection | None = None) -> dict[str, Any]:
    """One dispute (``404 unknown_dispute``, also when it is not ``subject_id``'s)."""
    return _in_tx(backend, conn, lambda c: _to_json(c, _row(c, dispute_id, subject_id)))


def decide_dispute(backend: Backend, dispute_id: str, outcome: str, note: str, *, actor: str,
                   conn: sqlite3.Connection | None = None) -> dict[str, Any]:
    """An operator's decision: ``upheld`` (the record stands and counts again) or ``corrected``
    (the event is removed for good, or the restriction and those resting on it are lifted;
    restrictions resting on a corrected event are lifted too). The score is recomputed.

    ``404 unknown_dispute``; ``409 dispute_decided`` when it was already decided;
    ``400 invalid_outcome``.
    """
    if outcome not in ("upheld", "corrected"):
        raise ApiError(400, "invalid_outcome", "outcome must be 'upheld' or 'corrected'")
    if not isinstance(note, str) or len(note.strip()) > MAX_NOTE:
        raise ApiError(400, "invalid_note", f"note must be text of at most {MAX_NOTE} characters")
    return _in_tx(backend, conn,
                  lambda c: _decide(c, backend, dispute_id, outcome, note.strip(), actor))


def audit_trail(backend: Backend, dispute_id: str, *,
                conn: sqlite3.Connection | None = None) -> dict[str, Any]:
    """``{"dispute_id", "rows": [...], "verification": {...}}``: the dispute's audit rows and
    the check of the whole chain."""
    def work(c: sqlite3.Connection) -> dict[str, Any]:
        _row(c, dispute_id, None)
        return {"dispute_id": dispute_id, "rows": audit.rows_of(c, dispute_id),
                "verification": audit.verify(c).to_json()}
    return _in_tx(backend, conn, work)


def verify_audit(backend: Backend, *, conn: sqlite3.Connection | None = None) -> AuditCheck:
    """Recompute the audit chain of every dispute step (``ok`` False names the first bad row)."""
    return _in_tx(backend, conn, audit.verify)


def under_review(conn: sqlite3.Connection, subject_id: str) -> frozenset[str]:
    """Ids of the subject's items (events and restrictions) with a dispute under review."""
    return frozenset(str(r["item_id"]) for r in conn.execute(
        "SELECT item_id FROM disputes WHERE subject_id = ? AND status = 'under_review'",
        (subject_id,)).fetchall())


def restrictions_in_force(conn: sqlite3.Connection, subject_id: str, *,
                          suspend: bool) -> list[restrictions.Restriction]:
    """The restrictions that count against the subject now (lifted ones never; ones under
    review, or resting on an item under review, not while ``suspend`` is on)."""
    every = restrictions.restrictions_of(conn, subject_id)
    if not every:
        return []
    return restrictions.in_force(every, under_review(conn, subject_id) if suspend else ())


# -- internals -----------------------------------------------------------------------------


def _item(item: Any) -> tuple[ItemKind, str]:
    if not isinstance(item, dict) or set(item) != {"kind", "id"}:
        raise ApiError(400, "invalid_item", 'item must be {"kind": "event"|"restriction", "id"}')
    kind, item_id = item["kind"], item["id"]
    if kind not in ("event", "restriction"):
        raise ApiError(400, "invalid_item", "item.kind must be 'event' or 'restriction'")
    if not isinstance(item_id, str) or not 1 <= len(item_id) <= 128:
        raise ApiError(400, "invalid_item", "item.id must be an id of 1..128 characters")
    return kind, item_id


def _reason(reason: Any) -> str:
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= MAX_REASON:
        raise ApiError(400, "invalid_reason",
                       f"reason must be free text of 1..{MAX_REASON} characters")
    if any(not ch.isprintable() and ch not in "\n\r\t" for ch in reason):
        raise ApiError(400, "invalid_reason", "reason may not hold control characters")
    return reason.strip()


def _open(conn: sqlite3.Connection, backend: Backend, subject_id: str, kind: ItemKind,
          item_id: str, reason: str) -> dict[str, Any]:
    now = backend.now()
    if kind == "event":
        row = conn.execute("SELECT subject_id FROM events WHERE event_id = ?",
                           (item_id,)).fetchone()
        if row is None or row["subject_id"] != subject_id:
            raise ApiError(404, "unknown_item", "you have no event with this id")
        scored = conn.execute("SELECT 1 FROM score_items WHERE event_id = ? LIMIT 1",
                              (item_id,)).fetchone() is not None
        rests = any(r.depends_on == item_id
                    for r in restrictions.restrictions_of(conn, subject_id))
        if not scored and not rests:
            raise ApiError(422, "not_disputable",
                           "this event does not affect your score or any restriction")
        if exclusion_of(conn, item_id) == "corrected":
            raise ApiError(409, "already_corrected", "this event was already corrected")
    else:
        found = restrictions.find(conn, subject_id, item_id)
        if found is None:
            raise ApiError(404, "unknown_item", "you have no restriction with this id")
        if not found.active:
            raise ApiError(409, "already_corrected", "this restriction was already lifted")
    if conn.execute("SELECT 1 FROM disputes WHERE item_id = ? AND status = 'under_review'",
                    (item_id,)).fetchone() is not None:
        raise ApiError(409, "dispute_open", "a dispute of this item is already under review")
    score_now = scorecard(conn, subject_id)[0]
    dispute_id = f"dsp_{secrets.token_hex(12)}"
    conn.execute("INSERT INTO disputes(dispute_id, subject_id, item_kind, item_id, reason,"
                 " status, opened_at, score_at_open) VALUES (?, ?, ?, ?, ?, 'under_review', ?, ?)",
                 (dispute_id, subject_id, kind, item_id, reason, now, score_now))
    suspend = backend.settings.suspend_disputed_items
    if suspend and kind == "event":
        exclude_event(conn, item_id, "disputed", now=now)
    note = ("opened; the item does not count against you while it is under review" if suspend
            else "opened; the item still counts while it is under review")
    audit.append(conn, dispute_id, actor=PERSON_ACTOR, action="opened", now=now, detail={
        "status": "under_review", "subject_id": subject_id, "item": {"kind": kind, "id": item_id},
        "reason_sha256": hashlib.sha256(reason.encode()).hexdigest(), "suspended": suspend,
        "score": score_now, "note": note})
    return _to_json(conn, _row(conn, dispute_id, None))


def _decide(conn: sqlite3.Connection, backend: Backend, dispute_id: str, outcome: str,
            note: str, actor: str) -> dict[str, Any]:
    now = backend.now()
    row = _row(conn, dispute_id, None)
    if row["status"] != "under_review":
        raise ApiError(409, "dispute_decided", f"this dispute was already {row['status']}")
    subject_id, kind, item_id = row["subject_id"], row["item_kind"], row["item_id"]
    lifted: list[str] = []
    if outcome == "corrected":
        if kind == "event":
            exclude_event(conn, item_id, "corrected", now=now)
        lifted = restrictions.lift(conn, subject_id, [item_id], now=now,
                                   note=f"corrected by dispute {dispute_id}")
    elif kind == "event" and exclusion_of(conn, item_id) == "disputed":
        restore_event(conn, item_id)
    score_after = scorecard(conn, subject_id)[0]
    conn.execute("UPDATE disputes SET status = ?, decided_at = ?, decided_by = ?,"
                 " score_after = ?, lifted = ? WHERE dispute_id = ?",
                 (outcome, now, actor, score_after, ",".join(lifted), dispute_id))
    words = note or ("the record stands" if outcome == "upheld" else "the record was wrong")
    audit.append(conn, dispute_id, actor=actor, action=outcome, now=now, detail={
        "status": outcome, "note": words, "score_before": int(row["score_at_open"]),
        "score_after": score_after, "restrictions_lifted": lifted})
    return _to_json(conn, _row(conn, dispute_id, None))


def _row(conn: sqlite3.Connection, dispute_id: str, subject_id: str | None) -> Any:
    row = conn.execute("SELECT * FROM disputes WHERE dispute_id = ?", (dispute_id,)).fetchone()
    if row is None or (subject_id is not None and row["subject_id"] != subject_id):
        raise ApiError(404, "unknown_dispute", "no such dispute")
    return row


def _to_json(conn: sqlite3.Connection, row: Any) -> dict[str, Any]:
    steps = [{"status": r["detail"].get("status", r["action"]), "time": r["time"],
              "actor": r["actor"], "note": r["detail"].get("note", ""), "hash": r["hash"]}
             for r in audit.rows_of(conn, row["dispute_id"])]
    outcome = None
    if row["decided_at"] is not None:
        outcome = {"score_before": int(row["score_at_open"]),
                   "score_after": int(row["score_after"]),
                   "restrictions_lifted": [x for x in (row["lifted"] or "").split(",") if x]}
    return {"dispute_id": row["dispute_id"], "subject_id": row["subject_id"],
            "item": {"kind": row["item_kind"], "id": row["item_id"]}, "reason": row["reason"],
            "status": row["status"], "opened_at": rfc3339(row["opened_at"]),
            "decided_at": None if row["decided_at"] is None else rfc3339(row["decided_at"]),
            "steps": steps, "outcome": outcome}
