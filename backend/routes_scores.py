"""Score service: ``GET /v1/subjects/{id}/score`` and ``POST /v1/events:batch``."""

from __future__ import annotations

import logging
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend import chain_check, score_reads, score_state
from backend.chain_check import open_gaps
from backend.context import (
    Backend,
    BackendDep,
    CallerDep,
    TerminalId,
    on_store,
    rfc3339,
)
from backend.disputes import restrictions_in_force
from backend.errors import ApiError
from backend.ingest import check_events, ingest_checked
from backend.json_response import OrjsonResponse
from backend.score_state import ensure_current, scorecard
from backend.scoring import BASE_SCORE, SCORE_RANGE

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
""" + score_state.SCHEMA_SQL + chain_check.SCHEMA_SQL

router = APIRouter(tags=["score service"])


class EventBatch(BaseModel):
    """A batch of events; each is validated on its own."""

    events: list[Any] = Field(description=f"At most {MAX_BATCH} events (schema 1)")


def compute_score(conn: sqlite3.Connection, subject_id: str, now: float, *,
                  suspend: bool = True) -> dict[str, Any]:
    """The score body of ``subject_id``: the points scorecard from its kept counts (each
    factor with the events that counted) and the restrictions in force with their origin
    (``suspend``: leave out restrictions under dispute, see :mod:`backend.disputes`)."""
    score, factors, clamp_points = scorecard(conn, subject_id)
    return {
        "subject_id": subject_id,
        "score": score,
        "baseline": BASE_SCORE,
        "range": list(SCORE_RANGE),
        "clamp_points": clamp_points,
        "as_of": rfc3339(now),
        "factors": [f.to_json() for f in factors],
        "restrictions": [r.to_json() for r in
                         restrictions_in_force(conn, subject_id, suspend=suspend)],
    }


@router.get("/v1/subjects/{subject_id}/score", summary="Credit score 350..950 with its reasons")
async def get_score(subject_id: Annotated[str, Path(max_length=128)], backend: BackendDep,
                    caller: CallerDep,
                    purpose: Annotated[str | None, Query(
                        pattern=score_reads.PURPOSE_PATTERN,
                        description="What the terminal decides with the score, e.g. "
                                    "deposit_decision or smile_to_pay (shown in the "
                                    "person's report)")] = None) -> JSONResponse:
    """Score, the factors that moved it (with their events), and restrictions with their
    origin (separate facts, not points). A terminal's read is recorded for the person's
    report."""
    if backend.store.concurrent_reads:  # a few indexed rows of a WAL snapshot: never waits
        body = _read_score(backend, subject_id)
    else:
        body = await run_in_threadpool(_read_score, backend, subject_id)
    # The read is recorded after the answer has gone, so a score read never waits for writes.
    if caller.role not in score_reads.RECORDED_ROLES:
        return OrjsonResponse(body)
    if score_reads.note(backend, subject_id=subject_id, terminal_id=caller.terminal_id,
                        purpose=purpose, score=body["score"]):
        score_reads.schedule_flush(backend)  # else one is on its way for the reads before
    return OrjsonResponse(body)


def _read_score(backend: Backend, subject_id: str) -> dict[str, Any]:
    with backend.store.read() as conn:
        if conn.execute("SELECT 1 FROM subjects WHERE subject_id = ?",
                        (subject_id,)).fetchone() is None:
            raise ApiError(404, "unknown_subject", "no such subject")
        return compute_score(conn, subject_id, backend.now(),
                             suspend=backend.settings.suspend_disputed_items)


@router.post("/v1/events:batch", summary="Upload events (idempotent by event id)")
async def post_events(batch: EventBatch, backend: BackendDep, caller: CallerDep
                      ) -> JSONResponse:
    """Store new events once; count duplicates; refuse malformed, privacy-violating or
    unprovenanced ones (a subject this terminal never served, a kind its role does not send)."""
    if len(batch.events) > MAX_BATCH:
        raise ApiError(413, "batch_too_large", f"send at most {MAX_BATCH} events per batch")
    checked = check_events(batch.events, caller.terminal_id)

    def ingest() -> dict[str, Any]:
        with backend.store.transaction() as conn:
            return ingest_checked(conn, checked, caller, backend.now())
    # A response, not a dict: FastAPI's generic serialisation of the answer cost more
    # than writing it.
    return OrjsonResponse(await on_store(backend, ingest))


@router.get("/v1/chain-gaps", summary="Open gaps and forks in terminals' event chains")
def get_chain_gaps(backend: BackendDep, _terminal: TerminalId,
                   terminal_id: Annotated[str | None, Query(max_length=64)] = None
                   ) -> dict[str, Any]:
    """Events whose predecessor never arrived (gaps) and predecessors named twice (forks)."""
    with backend.store.read() as conn:
        return {"gaps": open_gaps(conn, terminal_id)}


def on_start(backend: Backend) -> None:
    """Rebuild the kept score counts when the database predates them or the rule changed."""
    with backend.store.transaction() as conn:
        ensure_current(conn)
