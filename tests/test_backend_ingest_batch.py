"""The batched ingestion (a few statements per batch) against the one-by-one paths it replaced:
the same stored events, score counts, chain links, gaps and forks, over random batches with
duplicates, forks, out-of-order chains and events another upload stored first."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.chain_check import SCHEMA_SQL as CHAIN_SQL
from backend.chain_check import ChainLinker
from backend.ingest import check_events
from backend.routes_scores import SCHEMA_SQL
from backend.score_state import add_event, add_events
from backend.scoring import factors_of
from backend.store import Store
from payments.event_chain import chain_hash

SUBJECTS = ("sub_a", "sub_b", None)
_EVENT = st.fixed_dictionaries({
    "type": st.sampled_from(["ride.ended", "payment.declined", "deposit.captured",
                             "parking.reported", "ride.started"]),
    "subject_id": st.sampled_from(SUBJECTS),
    "attributes": st.fixed_dictionaries({}, optional={
        "on_time": st.booleans(), "misparked": st.booleans()}),
})


def _chain(history: list[dict[str, Any]], forks: list[int]) -> list[dict[str, Any]]:
    """Wire events chained in order; an index in ``forks`` names its predecessor's
    predecessor instead (a fork)."""
    events: list[dict[str, Any]] = []
    hashes: list[str | None] = [None]
    for n, body in enumerate(history):
        prev = hashes[-2] if n in forks and len(hashes) > 1 else hashes[-1]
        event = {"id": f"evt_{n:032x}", "schema": 1, "time": "2026-11-26T10:30:00Z",
                 "terminal_id": "bike-1", "prev_hash": prev, **body}
        hashes.append(chain_hash(event, prev))
        events.append(event)
    return events


def _store() -> Store:
    store = Store(":memory:")
    store.execute_script(SCHEMA_SQL + CHAIN_SQL)
    return store


def _state(store: Store) -> dict[str, Any]:
    with store.read() as conn:
        return {table: sorted(tuple(r) for r in conn.execute(f"SELECT {cols} FROM {table}"))
                for table, cols in (
                    ("events", "event_id, type, subject_id, attributes"),
                    ("score_items", "event_id, factor, subject_id, active"),
                    ("score_counts", "subject_id, factor, n"),
                    ("event_links", "event_id, prev_hash, hash"),
                    ("chain_gaps", "kind, missing_hash, event_id, closed_at IS NULL"))}


@settings(max_examples=120, deadline=None, derandomize=True)
@given(history=st.lists(_EVENT, min_size=1, max_size=40), data=st.data())
def test_batches_store_and_link_what_one_by_one_does(history: list[dict[str, Any]],
                                                    data: st.DataObject) -> None:
    events = _chain(history, data.draw(st.lists(st.integers(0, 39), max_size=3)))
    again = data.draw(st.lists(st.sampled_from(events), max_size=10))
    arrival = data.draw(st.permutations(events + again))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(arrival)), max_size=4)))
    batches = [arrival[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrival)], strict=True)]

    one, batched = _store(), _store()
    for batch in batches:
        with one.transaction() as conn:
            linker = ChainLinker(conn, "bike-1")
            for event in batch:
                linker.link(event, 5.0)
                add_event(conn, event, now=5.0)
        checked = check_events(batch, "bike-1")
        assert all(c.reason is None for c in checked)
        with batched.transaction() as conn:
            ChainLinker(conn, "bike-1").link_all([(c.event, c.own_hash) for c in checked],
                                                 5.0)
            add_events(conn, [(c.event, c.attributes_json, c.factors) for c in checked],
                       now=5.0)
    assert _state(batched) == _state(one)


def test_add_events_returns_only_the_ids_it_stored() -> None:
    store = _store()
    first = {"id": "evt_" + "1" * 32, "type": "ride.ended", "time": "2026-11-26T10:30:00Z",
             "terminal_id": "bike-1", "subject_id": "sub_a", "attributes": {"on_time": True}}
    second = {**first, "id": "evt_" + "2" * 32}

    def item(event: dict[str, Any]) -> tuple[dict[str, Any], str, tuple[str, ...]]:
        return (event, json.dumps(event["attributes"], sort_keys=True),
                factors_of(event["type"], event["attributes"]))

    with store.transaction() as conn:
        assert add_event(conn, first, now=1.0)
        new = add_events(conn, [item(first), item(second), item(second)], now=2.0)
        counts = conn.execute("SELECT n FROM score_counts WHERE subject_id = 'sub_a'"
                              " AND factor = 'on_time_returns'").fetchone()
    assert new == {second["id"]}
    assert counts is not None and counts[0] == 2  # first once, second once
