"""Score service: ``GET /v1/subjects/{id}/score`` and ``POST /v1/events:batch``."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from terminal.emulator.backend.context import (
    BackendDep,
    TerminalId,
    rfc3339,
)
from terminal.emulator.backend.errors import ApiError
from terminal.emulator.backend.event_check import check_event
from terminal.emulator.backend.scoring import score_events

log = logging.getLogger(__name__)

MAX_BATCH = 500

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    time TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    subject_id TEXT,
    attributes TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_subject ON events(subject_id);
CREATE TABLE IF NOT EXISTS restrictions (
    subject_id TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (subject_id, code)
);
"""

router = APIRouter(tags=["score service"])


class EventBatch(BaseModel):
    """A batch of events; each is validated on its own."""

    events: list[Any] = Field(description=f"At most {MAX_BATCH} events (schema 1)")


def compute_score(conn: sqlite3.Connection, subject_id: str, now: float) -> dict[str, Any]:
    """The score body of ``subject_id`` from its stored events and restrictions."""
    rows = conn.execute("SELECT type, attributes FROM events WHERE subject_id = ?",
                        (subject_id,)).fetchall()
    score, factors = score_events((r["type"], json.loads(r["attributes"])) for r in rows)
    restrictions = conn.execute(
        "SELECT code, description FROM restrictions WHERE subject_id = ? ORDER BY code",
        (subject_id,)).fetchall()
    return {
        "subject_id": subject_id,
        "score": score,
        "as_of": rfc3339(now),
        "factors": [f.to_json() for f in factors],
        "restrictions": [{"code": r["code"], "description": r["description"]}
                         for r in restrictions],
    }


@router.get("/v1/subjects/{subject_id}/score", summary="Credit score 350..950 with its reasons")
def get_score(subject_id: Annotated[str, Path(max_length=128)], backend: BackendDep,
              _terminal: TerminalId) -> dict[str, Any]:
    """Score, the factors that moved it, and restrictions (separate facts, not points)."""
    with backend.store.transaction() as conn:
        if conn.execute("SELECT 1 FROM subjects WHERE subject_id = ?",
                        (subject_id,)).fetchone() is None:
            raise ApiError(404, "unknown_subject", "no such subject")
        return compute_score(conn, subject_id, backend.now())


def store_events(conn: sqlite3.Connection, events: list[Any], terminal_id: str,
                 now: float) -> dict[str, Any]:
    """Validate and store ``events``; returns ``{"accepted", "duplicates", "rejected"}``."""
    accepted = duplicates = 0
    rejected: list[dict[str, Any]] = []
    for event in events:
        reason = check_event(event, terminal_id)
        if reason is not None:
            event_id = event.get("id") if isinstance(event, dict) else None
            rejected.append({"id": event_id if isinstance(event_id, str) else None,
                             "error": reason})
            continue
        cur = conn.execute(
            "INSERT OR IGNORE INTO events(event_id, type, time, terminal_id, subject_id,"
            " attributes, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (event["id"], event["type"], event["time"], event["terminal_id"],
             event.get("subject_id"), json.dumps(event.get("attributes", {}), sort_keys=True),
             now),
        )
        if cur.rowcount == 1:
            accepted += 1
        else:
            duplicates += 1
    if rejected:
        log.info("terminal %s: rejected %d of %d events", terminal_id, len(rejected), len(events))
    return {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}


@router.post("/v1/events:batch", summary="Upload events (idempotent by event id)")
def post_events(batch: EventBatch, backend: BackendDep,
                terminal_id: TerminalId) -> dict[str, Any]:
    """Store new events once; count duplicates; reject malformed or privacy-violating ones."""
    if len(batch.events) > MAX_BATCH:
        raise ApiError(413, "batch_too_large", f"send at most {MAX_BATCH} events per batch")
    with backend.store.transaction() as conn:
        return store_events(conn, batch.events, terminal_id, backend.now())
