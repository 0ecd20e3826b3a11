"""The one ingestion path of terminals' events: ``POST /v1/events:batch`` and the MQTT bridge.

:func:`check_events` needs no database: each event's validity, and for a well-formed one
everything its storage needs that is pure computation (its chain hash, its attributes as
stored, the score factors it counts towards), so that work is done before the write
transaction. :func:`ingest_checked` then, inside the caller's transaction, links the batch into
the terminal's hash chain, refuses what provenance forbids, stores the rest and folds the
vehicle's fleet state: a handful of statements per batch, not several per event, because the
write transaction holds the back end's one writer lock (SQLite) and its time is what bounds
throughput (``scanpay bench load``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any, NamedTuple

from backend.chain_check import ChainLinker
from backend.context import Caller
from backend.event_check import check_event
from backend.fleet import state as fleet_state
from backend.provenance import refusal, served_among
from backend.score_state import add_events
from backend.scoring import factors_of
from payments.event_chain import chain_hash

log = logging.getLogger(__name__)


class CheckedEvent(NamedTuple):
    """An uploaded event, why it is malformed (None: well-formed), and for a well-formed one
    what storing it needs."""

    event: Any
    reason: str | None
    own_hash: str = ""
    attributes_json: str = ""
    factors: tuple[str, ...] = ()


def check_events(events: list[Any], terminal_id: str) -> list[CheckedEvent]:
    """Each event checked (:func:`backend.event_check.check_event`), the well-formed ones
    prepared for storage; needs no database, so it runs before the write transaction."""
    out = []
    for event in events:
        reason = check_event(event, terminal_id)
        if reason is not None:
            out.append(CheckedEvent(event, reason))
            continue
        attributes = event.get("attributes") or {}
        out.append(CheckedEvent(event, None, chain_hash(event, event.get("prev_hash")),
                                json.dumps(attributes, sort_keys=True),
                                factors_of(event["type"], attributes)))
    return out


def store_checked(conn: sqlite3.Connection, checked: list[CheckedEvent], caller: Caller,
                  now: float) -> dict[str, Any]:
    """Link, refuse or store checked events; ``{"accepted", "duplicates", "rejected"}``.

    Every well-formed event is linked into the terminal's chain, refused or not; only the
    accepted ones are stored and move a score; each refused one gets its reason."""
    rejected: list[dict[str, Any]] = []
    good = [c for c in checked if c.reason is None]
    ChainLinker(conn, caller.terminal_id).link_all(
        [(c.event, c.own_hash) for c in good], now)
    # The batch's ids already stored and the subjects this terminal is on record as having
    # served (provenance): one statement each, not one per event.
    ids = list({c.event["id"] for c in good})
    stored = {str(r[0]) for r in conn.execute(
        f"SELECT event_id FROM events WHERE event_id IN ({', '.join('?' * len(ids))})",
        ids)} if ids else set()
    served_now = served_among(conn, caller.terminal_id, {
        c.event["subject_id"] for c in good
        if c.event["id"] not in stored and isinstance(c.event.get("subject_id"), str)})
    refusals: dict[tuple[str, str | None], str | None] = {}  # (type, subject) -> reason
    duplicates = 0
    to_store: list[CheckedEvent] = []
    for item in checked:
        event, reason = item.event, item.reason
        if reason is None:
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
        stored.add(event["id"])  # a second copy in this batch is a duplicate
        to_store.append(item)
    inserted = add_events(conn, [(c.event, c.attributes_json, c.factors) for c in to_store],
                          now=now)
    # Fewer inserted than sent: another transaction stored some at the same moment.
    duplicates += len(to_store) - len(inserted)
    if rejected:
        log.info("terminal %s: rejected %d of %d events", caller.terminal_id, len(rejected),
                 len(checked))
    return {"accepted": len(inserted), "duplicates": duplicates, "rejected": rejected}


def ingest_checked(conn: sqlite3.Connection, checked: list[CheckedEvent], caller: Caller,
                   now: float) -> dict[str, Any]:
    """The one ingestion path of events (HTTP batch and MQTT bridge, the device as
    ``caller``): :func:`store_checked`, then the vehicle's fleet state from its well-formed
    events (idempotent too)."""
    result = store_checked(conn, checked, caller, now)
    fleet_state.apply_events(conn, caller.terminal_id,
                             [c.event for c in checked if c.reason is None], now)
    return result
