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
from backend.chain_check import ChainLinker, open_gaps
from backend.context import (
    Backend,
    BackendDep,
    Caller,
    CallerDep,
    TerminalId,
    on_store,
    rfc3339,
)
from backend.disputes import restrictions_in_force
from backend.errors import ApiError
from backend.event_check import check_event
from backend.fleet import state as fleet_state
from backend.provenance import refusal, served_among
from backend.score_state import add_event, ensure_current, scorecard
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
        return JSONResponse(body)
    if score_reads.note(backend, subject_id=subject_id, terminal_id=caller.terminal_id,
                        purpose=purpose, score=body["score"]):
        score_reads.schedule_flush(backend)  # else one is on its way for the reads before
    return JSONResponse(body)


def _read_score(backend: Backend, subject_id: str) -> dict[str, Any]:
    with backend.store.read() as conn:
        if conn.execute("SELECT 1 FROM subjects WHERE subject_id = ?",
                        (subject_id,)).fetchone() is None:
            raise ApiError(404, "unknown_subject", "no such subject")
        return compute_score(conn, subject_id, backend.now(),
                             suspend=backend.settings.suspend_disputed_items)


def store_events(conn: sqlite3.Connection, events: list[Any], caller: Caller,
                 now: float) -> dict[str, Any]:
    """Validate, link and store ``events``; returns ``{"accepted", "duplicates", "rejected"}``.

    Only accepted events are stored and move a score; each refused one gets its reason.
    """
    return store_checked(conn, check_events(events, caller.terminal_id), caller, now)


def check_events(events: list[Any], terminal_id: str) -> list[tuple[Any, str | None]]:
    """Each event with why it is malformed (None: well-formed); needs no database, so it runs
    before the write transaction."""
    return [(event, check_event(event, terminal_id)) for event in events]


def store_checked(conn: sqlite3.Connection, checked: list[tuple[Any, str | None]],
                  caller: Caller, now: float) -> dict[str, Any]:
    """:func:`store_events` for events already through :func:`check_events`."""
    accepted = duplicates = 0
    rejected: list[dict[str, Any]] = []
    linker = ChainLinker(conn, caller.terminal_id)
    refusals: dict[tuple[str, str | None], str | None] = {}  # (type, subject) -> reason
    # The batch's ids already stored, in one statement (one round trip on PostgreSQL, not one
    # per event); ids stored by this batch join the set as they are.
    ids = list({event["id"] for event, reason in checked if reason is None})
    stored = {str(r[0]) for r in conn.execute(
        f"SELECT event_id FROM events WHERE event_id IN ({', '.join('?' * len(ids))})",
        ids)} if ids else set()
    # Likewise the subjects this terminal is on record as having served (provenance).
    served_now = served_among(conn, caller.terminal_id, {
        event["subject_id"] for event, reason in checked
        if reason is None and event["id"] not in stored
        and isinstance(event.get("subject_id"), str)})
    for event, reason in checked:
        if reason is None:
            linker.link(event, now)  # refused or not, it is part of the chain
            if event["id"] in stored:
                duplicates += 1
                continue
            pair = (event["type"], event.get("subject_id"))
            if pair not in refusals:
                refusals[pair] = refusal(conn, caller.role, caller.terminal_id, event,
                                         known_served=served_now)
            reason = refusals[pair]
        if reason is not None:
            event_id = event.get("id") if isinstance(event, dict) else None
            rejected.append({"id": event_id if isinstance(event_id, str) else None,
                             "error": reason})
            continue
        if add_event(conn, event, now=now):
            accepted += 1
            stored.add(event["id"])
        else:
            duplicates += 1
    if rejected:
        log.info("terminal %s: rejected %d of %d events", caller.terminal_id, len(rejected),
                 len(checked))
    return {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}


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
    # A JSONResponse, not a dict: FastAPI's generic serialisation of the answer cost more
    # than writing it.
    return JSONResponse(await on_store(backend, ingest))


def ingest_checked(conn: sqlite3.Connection, checked: list[tuple[Any, str | None]],
                   caller: Caller, now: float) -> dict[str, Any]:
    """The one ingestion path of events (HTTP batch and MQTT bridge, the device as
    ``caller``): :func:`store_checked`, then the vehicle's fleet state from its well-formed
    events (idempotent too)."""
    result = store_checked(conn, checked, caller, now)
    fleet_state.apply_events(conn, caller.terminal_id,
                             [e for e, reason in checked if reason is None], now)
    return result


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
