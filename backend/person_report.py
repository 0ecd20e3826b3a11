"""A person's report: everything the back end holds and did with their data, in one body.

Score, range, baseline and date; the points scorecard (each factor with the events that
counted); every scored event with its terminal, date, points and status; restrictions with
their origin; what the terminals hold about the person (face enrollment, the consent they
signed with its text version, until when the template is kept, or the tombstone of its
deletion); the score reads of the last 90 days; the deposit decisions terminals logged in that
time with their reason codes (a declined ride too); and their disputes. Served to the person by
``GET /v1/person/report`` and usable by the operator console.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import datetime
from typing import Any

from backend import retention, score_reads
from backend.context import Backend, rfc3339
from backend.disputes import list_disputes, restrictions_in_force, under_review
from backend.restrictions import restrictions_of
from backend.score_state import counts_of, scorecard, scored_items
from backend.scoring import BASE_SCORE, RULES_BY_FACTOR, SCORE_RANGE, Factor, counted_limit
from backend.settings import BackendSettings

# The events in which a terminal logs its deposit decision, and the outcome each stands for.
DECISION_EVENTS: dict[str, str] = {"deposit.held": "required", "deposit.waived": "waived",
                                   "deposit.declined": "declined"}
# The report's ``source_code`` when the back end kept its default name: the page shows that
# name in the reader's language (a name the operator chose is a proper noun, shown as given).
REFERENCE_SOURCE = "scanpay_reference"
_DEFAULT_NAME = next(f.default for f in dataclasses.fields(BackendSettings) if f.name == "name")


def person_report(backend: Backend, subject_id: str, *,
                  conn: sqlite3.Connection | None = None) -> dict[str, Any]:
    """The report body of docs/api.md ``GET /v1/person/report`` for ``subject_id``."""
    if conn is None:
        with backend.store.transaction() as own:
            return person_report(backend, subject_id, conn=own)
    now = backend.now()
    suspend = backend.settings.suspend_disputed_items
    score, factors, clamp_points = scorecard(conn, subject_id)
    reviewing = under_review(conn, subject_id)
    in_force = {r.restriction_id for r in restrictions_in_force(conn, subject_id,
                                                                  suspend=suspend)}
    restrictions = []
    for r in restrictions_of(conn, subject_id):
        if not r.active:
            continue
        body = r.to_json()
        body["status"] = "in_force" if r.restriction_id in in_force else "disputed"
        restrictions.append(body)
    return {
        "subject_id": subject_id,
        "score": score,
        "range": list(SCORE_RANGE),
        "baseline": BASE_SCORE,
        "clamp_points": clamp_points,
        "as_of": rfc3339(now),
        "source": backend.settings.name,
        "source_code": REFERENCE_SOURCE if backend.settings.name == _DEFAULT_NAME else None,
        "factors": factor_bodies(factors, counts_of(conn, subject_id)),
        "events": scored_items(conn, subject_id, factors, reviewing),
        "restrictions": restrictions,
        "terminal_data": terminal_data(conn, subject_id,
                                       retention_days=backend.settings.face_retention_days),
        "decisions": score_reads.recent(conn, subject_id, now),
        "deposit_decisions": deposit_decisions(conn, subject_id, now),
        "disputes": list_disputes(backend, subject_id=subject_id, conn=conn),
    }


def factor_bodies(factors: list[Factor], counts: dict[str, int]) -> list[dict[str, Any]]:
    """The scorecard's factors with what a page needs to say them in any language: ``count``
    (events that count towards it), ``cap_points`` (the most it can add or take) and
    ``counted_limit`` (how many events can count before the cap), beside the English ``text``."""
    out = []
    for f in factors:
        rule = RULES_BY_FACTOR[f.code]
        out.append({"code": f.code, "text": f.text, "description": f.description,
                    "points": f.points, "count": counts.get(f.code, 0), "cap_points": rule.cap,
                    "counted_limit": counted_limit(rule), "event_ids": list(f.event_ids)})
    return out


def deposit_decisions(conn: sqlite3.Connection, subject_id: str, now: float,
                      days: int = score_reads.REPORT_DAYS) -> list[dict[str, Any]]:
    """The deposit decisions terminals logged about the person in the last ``days`` days,
    newest first (at most 500): outcome, terminal, time, the reason codes it gave and, for a
    deposit held, its ``amount_minor`` and ``currency``."""
    marks = ", ".join("?" for _ in DECISION_EVENTS)
    rows = conn.execute(f"SELECT event_id, type, time, terminal_id, attributes FROM events"
                        f" WHERE subject_id = ? AND type IN ({marks})"
                        f" ORDER BY time DESC, event_id LIMIT 500",
                        (subject_id, *DECISION_EVENTS)).fetchall()
    since = now - days * 86400.0
    out = []
    for r in rows:
        if datetime.fromisoformat(str(r["time"])).timestamp() < since:
            continue
        attributes = json.loads(r["attributes"])
        codes = str(attributes.get("reason_codes") or "")
        body = {"id": r["event_id"], "type": r["type"], "outcome": DECISION_EVENTS[r["type"]],
                "time": r["time"], "terminal_id": r["terminal_id"],
                "reason_codes": [c for c in codes.split(",") if c]}
        amount, currency = attributes.get("amount_minor"), attributes.get("currency")
        if isinstance(amount, int) and not isinstance(amount, bool) and isinstance(currency, str):
            body.update(amount_minor=amount, currency=currency)
        out.append(body)
    return out


def terminal_data(conn: sqlite3.Connection, subject_id: str, *,
                  retention_days: int) -> dict[str, Any]:
    """``{"face_enrolled", "consent": {"text_version", "given_at", "purpose",
    "retention_days"}|null, "retention_until": date|null, "tombstone": {"deleted_at",
    "reason"}|null}``."""
    enrolled = conn.execute("SELECT enrollment_id, created_at, expires_at FROM face_enrollments"
                            " WHERE subject_id = ?", (subject_id,)).fetchone()
    consent = None
    if enrolled is not None:
        row = conn.execute(
            "SELECT c.given_at, c.purpose, c.retention_days, t.text_version"
            " FROM face_consents c LEFT JOIN face_consent_texts t"
            " ON t.enrollment_id = c.enrollment_id WHERE c.enrollment_id = ?",
            (enrolled["enrollment_id"],)).fetchone()
        if row is not None:
            consent = {"text_version": row["text_version"], "given_at": rfc3339(row["given_at"]),
                       "purpose": row["purpose"], "retention_days": int(row["retention_days"])}
    until = None
    tombstone = None
    if enrolled is not None:
        used = retention.last_used(conn, subject_id, enrolled["created_at"])
        until = rfc3339(min(float(enrolled["expires_at"]), used + retention_days * 86400.0))[:10]
    else:
        last = retention.last_tombstone(conn, subject_id)
        if last is not None:
            tombstone = {"deleted_at": last["deleted_at"], "reason": last["reason"]}
    return {"face_enrolled": enrolled is not None, "consent": consent,
            "retention_until": until, "tombstone": tombstone}
