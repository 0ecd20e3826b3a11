"""Per-terminal hash chain of events: each event names the hash of the one before it.

The terminal links every event it appends to its outbox (:func:`link`); the back end recomputes
each event's hash with :func:`chain_hash` and flags a ``prev_hash`` it never received (a gap:
an event lost or withheld) or two events naming the same predecessor (a fork). The hash covers
the event's wire form without its own ``prev_hash`` field, plus that predecessor hash, so it
reads the same on both sides of the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from payments.events import Event

_DOMAIN = b"scanpay-event-chain-1"

# The outbox's chain head: the hash of the last event appended (one row).
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hash TEXT NOT NULL
);
"""


def chain_hash(event: Event | Mapping[str, Any], prev: str | None) -> str:
    """The chain hash of ``event`` (an :class:`Event` or its wire form) following ``prev``."""
    data = event.to_dict() if isinstance(event, Event) else dict(event)
    data.pop("prev_hash", None)
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(_DOMAIN)
    digest.update(b"\x1f" + (prev or "").encode("ascii") + b"\x1f" + body.encode("ascii"))
    return digest.hexdigest()


def link(conn: sqlite3.Connection, event: Event) -> Event:
    """``event`` with ``prev_hash`` set to the chain head of ``conn``, which moves to it.

    Call inside the transaction that stores the event, so the head and the outbox agree.
    """
    row = conn.execute("SELECT hash FROM chain_head WHERE id = 1").fetchone()
    prev = str(row[0]) if row is not None else None
    linked = dataclasses.replace(event, prev_hash=prev)
    conn.execute("INSERT OR REPLACE INTO chain_head(id, hash) VALUES (1, ?)",
                 (chain_hash(linked, prev),))
    return linked
