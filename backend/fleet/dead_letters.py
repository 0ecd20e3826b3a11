"""Dead letters: unit messages the database refused for good, kept for an operator to read.

The bridge quarantines a message here when applying it alone, in its own transaction, still
fails while the database answers (a constraint it violates, a value out of range): the message
is recorded once (its id is a digest of topic and payload, so a redelivery adds no second row),
then acknowledged, so it no longer holds up the messages of every other unit. A database that
does not answer quarantines nothing (the bridge keeps retrying).
"""

from __future__ import annotations

import hashlib
from typing import Any

from payments.fleet_messages import FleetMessageError, parse_topic

# Characters of a payload and of an error kept (the rest is cut).
PAYLOAD_CHARS = 4000
ERROR_CHARS = 500
# Dead letters one listing returns at most.
MAX_LISTED = 500

# A migration step of backend.routes_fleet (after the fleet state's steps).
MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("0005_dead_letters", """
CREATE TABLE IF NOT EXISTS fleet_dead_letters (
    letter_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    device_id TEXT,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS fleet_dead_letters_at ON fleet_dead_letters(at);
"""),
)


def letter_id(topic: str, payload: bytes) -> str:
    """The id of a message's dead letter: the same message always gets the same id."""
    digest = hashlib.sha256(topic.encode("utf-8", "replace") + b"\n" + payload)
    return "dl_" + digest.hexdigest()[:32]


def record(conn: Any, topic: str, payload: bytes, error: str, now: float) -> bool:
    """Record a refused message (payload and error cut to a bound); False when this message
    was recorded before."""
    try:
        device_id: str | None = parse_topic(topic).device_id
    except FleetMessageError:
        device_id = None
    text = payload.decode("utf-8", "replace")
    if len(text) > PAYLOAD_CHARS:
        text = text[:PAYLOAD_CHARS] + "…"
    cur = conn.execute(
        "INSERT INTO fleet_dead_letters(letter_id, topic, device_id, payload, error, at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (letter_id) DO NOTHING",
        (letter_id(topic, payload), topic[:512], device_id, text, error[:ERROR_CHARS], now))
    return bool(cur.rowcount)


def count(conn: Any) -> int:
    """How many dead letters there are."""
    return int(conn.execute("SELECT COUNT(*) FROM fleet_dead_letters").fetchone()[0])


def recent(conn: Any, limit: int = 100) -> list[dict[str, Any]]:
    """The newest dead letters first (at most ``limit``, itself at most :data:`MAX_LISTED`)."""
    rows = conn.execute(
        "SELECT letter_id, topic, device_id, payload, error, at FROM fleet_dead_letters"
        " ORDER BY at DESC, letter_id LIMIT ?", (max(1, min(limit, MAX_LISTED)),))
    return [{"id": r[0], "topic": r[1], "device_id": r[2], "payload": r[3], "error": r[4],
             "at": float(r[5])} for r in rows]
