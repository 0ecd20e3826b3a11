"""Demo subjects with different standings, built from event histories the scoring rule reads."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass

from backend.context import Backend, rfc3339
from backend.restrictions import add_restriction
from backend.score_state import add_event

# 2026-01-01T00:00:00Z: seeded history is dated from here, one event per hour.
_HISTORY_START = 1_767_225_600
SEED_TERMINAL = "seed-history"
DEMO_CURRENCY = "CNY"


@dataclass(frozen=True)
class DemoRestriction:
    """A seeded restriction and where it came from."""

    code: str
    description: str
    source: str
    reference: str
    listed_at: float


@dataclass(frozen=True)
class DemoSubject:
    """A seeded payer: wallet balance, event history and restrictions."""

    subject_id: str
    description: str
    balance_minor: int
    # (event type, attributes as JSON, how many)
    history: tuple[tuple[str, str, int], ...]
    restrictions: tuple[DemoRestriction, ...] = ()


# rider-low's misparkings: three real ones, and one reported at a legal bike bay (the record a
# dispute finds wrong; without it the score is 650 and no deposit is needed).
_MISPARKED = '{"misparked": true, "place": "pavement in front of a shop entrance"}'
_LEGAL_BAY = '{"misparked": true, "place": "Xintiandi station bike bay (a legal bay)"}'

DEMO_SUBJECTS: tuple[DemoSubject, ...] = (
    DemoSubject("rider-good", "good standing, funded (score 780)", 50_000,
                (("ride.ended", '{"on_time": true}', 36),)),
    DemoSubject("rider-low", "low score, funded (score 640)", 50_000,
                (("ride.ended", '{"on_time": true}', 22), ("payment.declined", "{}", 2),
                 ("parking.reported", _MISPARKED, 2), ("parking.reported", _LEGAL_BAY, 1),
                 ("parking.reported", _MISPARKED, 1))),
    DemoSubject("rider-blacklisted", "court blacklist restriction, funded (score 660)", 50_000,
                (("ride.ended", '{"on_time": true}', 12),),
                (DemoRestriction("court_blacklist", "Listed by a court as a defaulter",
                                 "Court list of judgment defaulters (Huangpu District People's "
                                 "Court, Shanghai)", "(2026) Hu 0101 Zhi No. 4417",
                                 1_772_323_200.0),)),
    DemoSubject("rider-broke", "good score, empty wallet (score 750)", 0,
                (("ride.ended", '{"on_time": true}', 30),)),
)


def add_subject(conn: sqlite3.Connection, subject_id: str, description: str,
                balance_minor: int, now: float, currency: str = DEMO_CURRENCY) -> bool:
    """Create a subject with a wallet; False when it already exists."""
    cur = conn.execute("INSERT INTO subjects(subject_id, description, created_at)"
                       " VALUES (?, ?, ?) ON CONFLICT (subject_id) DO NOTHING",
                       (subject_id, description, now))
    if cur.rowcount != 1:
        return False
    conn.execute("INSERT INTO wallets(subject_id, currency, balance_minor) VALUES (?, ?, ?)",
                 (subject_id, currency, balance_minor))
    return True


def demo_event_id(subject_id: str, n: int) -> str:
    """The id of the ``n``-th (from 0) seeded event of ``subject_id``."""
    digest = hashlib.sha256(f"{subject_id}/{n}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


# The parking report of rider-low made at a legal bay: the record the dispute story corrects.
WRONG_PARKING_EVENT_ID = demo_event_id("rider-low", 26)


def seed_demo(backend: Backend) -> None:
    """Create the demo subjects once (a restart with the same database keeps their state)."""
    with backend.store.transaction() as conn:
        for subject in DEMO_SUBJECTS:
            if not add_subject(conn, subject.subject_id, subject.description,
                               subject.balance_minor, backend.now()):
                continue
            n = 0
            for event_type, attributes, count in subject.history:
                for _ in range(count):
                    add_event(conn, {"id": demo_event_id(subject.subject_id, n),
                                     "type": event_type,
                                     "time": rfc3339(_HISTORY_START + 3600 * n),
                                     "terminal_id": SEED_TERMINAL,
                                     "subject_id": subject.subject_id,
                                     "attributes": json.loads(attributes)}, now=backend.now())
                    n += 1
            for r in subject.restrictions:
                add_restriction(conn, subject.subject_id, r.code, r.description,
                                source=r.source, reference=r.reference, listed_at=r.listed_at)
