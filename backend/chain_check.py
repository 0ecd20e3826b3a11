"""The back end's side of the per-terminal event hash chain (:mod:`payments.event_chain`).

Every well-formed chained event a terminal uploads is linked (its hash recomputed from what
arrived). An event whose ``prev_hash`` names an event never received opens a *gap*; the gap
closes when that event arrives late. Two events naming the same predecessor are a *fork*. Gaps
and forks are flagged for operators (``GET /v1/chain-gaps``), never a reason to refuse an event.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from payments.event_chain import chain_hash

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS event_links (
    event_id TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    prev_hash TEXT,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_links_hash ON event_links(terminal_id, hash);
CREATE INDEX IF NOT EXISTS event_links_prev ON event_links(terminal_id, prev_hash);
CREATE TABLE IF NOT EXISTS chain_gaps (
    terminal_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    missing_hash TEXT NOT NULL,
    event_id TEXT NOT NULL,
    detected_at REAL NOT NULL,
    closed_at REAL,
    PRIMARY KEY (terminal_id, kind, missing_hash, event_id)
);
"""


class ChainLinker:
    """Links one terminal's events within one transaction (one batch)."""

    def __init__(self, conn: sqlite3.Connection, terminal_id: str) -> None:
        self._conn = conn
        self._terminal = terminal_id
        # Closing gaps is only looked for when the terminal has any open (rarely).
        self._open_gaps = conn.execute(
            "SELECT 1 FROM chain_gaps WHERE terminal_id = ? AND kind = 'gap'"
            " AND closed_at IS NULL LIMIT 1", (terminal_id,)).fetchone() is not None

    def link(self, event: Mapping[str, Any], now: float) -> None:
        """Link a well-formed event of this terminal, flagging gaps and forks; an event
        without ``prev_hash`` (a terminal's first, or a client that does not chain) starts a
        chain. (:meth:`link_all` for one event.)"""
        self.link_all([(event, chain_hash(event, event.get("prev_hash")))], now)

    def link_all(self, items: Sequence[tuple[Mapping[str, Any], str]], now: float) -> None:
        """Link a batch of well-formed events with their chain hashes, in order, as one by
        one, in four statements (plus one per gap, fork or closed gap): the predecessors and
        the events naming them are looked up for the whole batch at once (two index probes
        each; an OR of both conditions made SQLite walk every link of the terminal, 2 ms an
        event at 4,000 links), and the batch's own links count as they come."""
        if not items:
            return
        conn, terminal = self._conn, self._terminal
        ids = sorted({event["id"] for event, _ in items})
        known = {str(r[0]) for r in conn.execute(
            f"SELECT event_id FROM event_links WHERE event_id IN ({_marks(ids)})", ids)}
        prevs = sorted({str(e["prev_hash"]) for e, _ in items if e.get("prev_hash")})
        hashes: set[str] = set()  # of these predecessors, the ones linked already
        namers: dict[str, set[str]] = {}  # predecessor -> the events naming it
        if prevs:
            hashes = {str(r[0]) for r in conn.execute(
                "SELECT hash FROM event_links WHERE terminal_id = ? AND hash IN"
                f" ({_marks(prevs)})", (terminal, *prevs))}
            for prev, event_id in conn.execute(
                    "SELECT prev_hash, event_id FROM event_links WHERE terminal_id = ? AND"
                    f" prev_hash IN ({_marks(prevs)})", (terminal, *prevs)):
                namers.setdefault(str(prev), set()).add(str(event_id))
        rows: list[tuple[str, str, str | None, str]] = []
        after: list[tuple[str, str, str]] = []  # ("close", hash, "") | (kind, missing, id)
        for event, own in items:
            event_id, prev = event["id"], event.get("prev_hash")
            if event_id in known:
                continue  # a duplicate: linked when it first came
            known.add(event_id)
            rows.append((event_id, terminal, prev, own))
            if self._open_gaps:
                after.append(("close", own, ""))
            hashes.add(own)
            if prev is None:
                continue
            if prev not in hashes:
                after.append(("gap", prev, event_id))
                self._open_gaps = True
            if namers.setdefault(prev, set()) - {event_id}:
                after.append(("fork", prev, event_id))
            namers[prev].add(event_id)
        conn.executemany("INSERT INTO event_links(event_id, terminal_id, prev_hash, hash)"
                         " VALUES (?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING", rows)
        for kind, value, event_id in after:  # in the batch's order, as one by one
            if kind == "close":
                conn.execute("UPDATE chain_gaps SET closed_at = ? WHERE terminal_id = ?"
                             " AND kind = 'gap' AND missing_hash = ? AND closed_at IS NULL",
                             (now, terminal, value))
            else:
                _flag(conn, terminal, kind, value, event_id, now)


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _flag(conn: sqlite3.Connection, terminal: str, kind: str, missing: str, event_id: str,
          now: float) -> None:
    conn.execute("INSERT INTO chain_gaps(terminal_id, kind, missing_hash, event_id,"
                 " detected_at) VALUES (?, ?, ?, ?, ?)"
                 " ON CONFLICT (terminal_id, kind, missing_hash, event_id) DO NOTHING",
                 (terminal, kind, missing, event_id, now))


def open_gaps(conn: sqlite3.Connection, terminal_id: str | None = None,
              limit: int = 500) -> list[dict[str, Any]]:
    """Gaps not yet closed and every fork, oldest first (of one terminal, or all)."""
    rows = conn.execute(
        "SELECT terminal_id, kind, missing_hash, event_id, detected_at FROM chain_gaps"
        " WHERE closed_at IS NULL AND (CAST(? AS TEXT) IS NULL OR terminal_id = ?)"
        " ORDER BY detected_at, terminal_id LIMIT ?", (terminal_id, terminal_id, limit))
    return [{"terminal_id": r[0], "kind": r[1], "missing_hash": r[2], "event_id": r[3],
             "detected_at": r[4]} for r in rows]
