"""Scores kept incrementally: equal to the from-scratch rule, read without the history or a lock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import BackendServer, BackendSettings
from backend.routes_scores import SCHEMA_SQL
from backend.score_state import add_event, ensure_current, read_score, rebuild
from backend.scoring import score_events
from backend.store import Store
from tests.store_support import held_write

SUBJECTS = ("sub_a", "sub_b", "sub_c")
_EVENT = st.fixed_dictionaries({
    "type": st.sampled_from(["ride.ended", "payment.declined", "deposit.captured",
                             "parking.reported", "ride.started", "face.rejected"]),
    "subject_id": st.sampled_from([*SUBJECTS, None]),
    "attributes": st.fixed_dictionaries({}, optional={
        "on_time": st.booleans(), "misparked": st.booleans(),
        "reason": st.sampled_from(["damage", "fare_declined", "loss"])}),
})


def _wire(n: int, event: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"evt_{n:032x}", "time": "2026-11-26T10:30:00Z", "terminal_id": "bike-1",
            **event}


def _store() -> Store:
    store = Store(":memory:")
    store.execute_script(SCHEMA_SQL)
    return store


@settings(max_examples=150, deadline=None, derandomize=True)
@given(history=st.lists(_EVENT, max_size=120), data=st.data())
def test_kept_scores_equal_the_rule_run_from_scratch(history: list[dict[str, Any]],
                                                     data: st.DataObject) -> None:
    events = [_wire(n, e) for n, e in enumerate(history)]
    # Arrival: duplicates of any event, in any order.
    again = data.draw(st.lists(st.sampled_from(events), max_size=40)) if events else []
    arrival = data.draw(st.permutations(events + again))
    store = _store()
    with store.transaction() as conn:
        stored = [add_event(conn, e, now=0.0) for e in arrival]
        assert sum(stored) == len(events)  # every duplicate refused
        for subject in SUBJECTS:
            mine = [(e["type"], e["attributes"]) for e in events if e["subject_id"] == subject]
            assert read_score(conn, subject) == score_events(mine)
        kept = {s: read_score(conn, s) for s in SUBJECTS}
        rebuild(conn)
        assert {s: read_score(conn, s) for s in SUBJECTS} == kept
    store.close()


def test_a_read_does_not_touch_the_history() -> None:
    store = _store()
    with store.transaction() as conn:
        for n in range(30):
            add_event(conn, _wire(n, {"type": "ride.ended", "subject_id": "sub_a",
                                      "attributes": {"on_time": True}}), now=0.0)
        before = read_score(conn, "sub_a")
        conn.execute("DELETE FROM events")
        assert read_score(conn, "sub_a") == before == (750, before[1])
    store.close()


def test_counts_are_rebuilt_for_a_database_that_predates_them() -> None:
    store = _store()
    with store.transaction() as conn:
        conn.execute("INSERT INTO events VALUES ('evt_1', 'payment.declined', 't', 'bike-1',"
                     " 'sub_a', '{}', 0)")  # stored by an older back end: never counted
        assert read_score(conn, "sub_a")[0] == 600
        ensure_current(conn)
        assert read_score(conn, "sub_a")[0] == 585
    store.close()


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(database=str(tmp_path / "backend.sqlite3"))) as srv:
        yield srv


def test_score_reads_go_on_while_a_write_transaction_is_open(
        file_server: BackendServer) -> None:
    auth = {"Authorization": f"Bearer {file_server.api_key_for('bike-0001')}"}
    with held_write(file_server.backend.store,
                    "INSERT INTO restrictions VALUES ('rider-good', 'x', 'held open')"):
        replies = [requests.get(f"{file_server.url}/v1/subjects/{s}/score", headers=auth,
                                timeout=8) for s in ("rider-good", "rider-low")]
        # The reads see the last committed state, not the write still open.
        assert [r.json()["score"] for r in replies] == [780, 640]
        assert replies[0].json()["restrictions"] == []


def test_a_file_database_serves_scores_from_its_own_read_connections(
        file_server: BackendServer) -> None:
    auth = {"Authorization": f"Bearer {file_server.api_key_for('kiosk-0001')}"}
    subject = f"sub_{uuid.uuid4().hex[:8]}"
    assert requests.post(f"{file_server.url}/v1/dev/subjects", headers=auth, timeout=5,
                         json={"subject_id": subject}).status_code == 201
    reply = requests.get(f"{file_server.url}/v1/subjects/{subject}/score", headers=auth,
                         timeout=5)
    assert reply.status_code == 200 and reply.json()["score"] == 600
