"""The points scorecard: every point of a score is traceable to listed events, caps and clamp
included, also while some events are disputed or corrected."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backend import restrictions, score_reads
from backend.routes_scores import SCHEMA_SQL, compute_score
from backend.score_state import (
    add_event,
    exclude_event,
    rebuild,
    restore_event,
    scorecard,
    scored_items,
)
from backend.scoring import BASE_SCORE, RULES_BY_FACTOR, counted_limit, score_events
from backend.store import Store

SUBJECTS = ("sub_a", "sub_b")
# Kinds drawn often enough to pass every cap (40 on-time returns, 10 declines, 5 deposits...).
_EVENT = st.fixed_dictionaries({
    "type": st.sampled_from(["ride.ended", "payment.declined", "deposit.captured",
                             "parking.reported", "ride.started"]),
    "subject_id": st.sampled_from(SUBJECTS),
    "attributes": st.fixed_dictionaries({}, optional={
        "on_time": st.booleans(), "misparked": st.booleans(),
        "reason": st.sampled_from(["damage", "fare_declined", "loss"])}),
    "hour": st.integers(0, 500),
})


def _store() -> Store:
    store = Store(":memory:")
    store.execute_script(SCHEMA_SQL + restrictions.SCHEMA_SQL + score_reads.SCHEMA_SQL)
    return store


def _wire(n: int, event: dict[str, Any]) -> dict[str, Any]:
    hour = event["hour"]
    return {"id": f"evt_{n:032x}", "time": f"2026-01-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z",
            "terminal_id": "bike-1", "type": event["type"], "subject_id": event["subject_id"],
            "attributes": event["attributes"]}


@settings(max_examples=120, deadline=None, derandomize=True)
@given(history=st.lists(_EVENT, max_size=160), data=st.data())
def test_listed_points_add_up_to_the_score(history: list[dict[str, Any]],
                                           data: st.DataObject) -> None:
    events = [_wire(n, e) for n, e in enumerate(history)]
    store = _store()
    with store.transaction() as conn:
        for event in events:
            add_event(conn, event, now=0.0)
        # Some events disputed (suspended), some corrected, some put back (upheld).
        ids = [e["id"] for e in events]
        disputed = data.draw(st.sets(st.sampled_from(ids), max_size=20)) if ids else set()
        for event_id in sorted(disputed):
            exclude_event(conn, event_id, data.draw(st.sampled_from(["disputed", "corrected"])),
                          now=0.0)
        upheld = data.draw(st.sets(st.sampled_from(sorted(disputed)))) if disputed else set()
        for event_id in sorted(upheld):
            restore_event(conn, event_id)
        gone = disputed - upheld
        for subject in SUBJECTS:
            _check_subject(conn, subject, [e for e in events if e["subject_id"] == subject],
                           gone)
        before = {s: scorecard(conn, s) for s in SUBJECTS}
        rebuild(conn)  # a rule change recounts: the disputed stay out
        assert {s: scorecard(conn, s) for s in SUBJECTS} == before
    store.close()


def _check_subject(conn: Any, subject: str, events: list[dict[str, Any]], gone: set[str]) -> None:
    score, factors, clamp_points = scorecard(conn, subject)
    counting = [e for e in events if e["id"] not in gone]
    assert score == score_events((e["type"], e["attributes"]) for e in counting)[0]
    assert score == BASE_SCORE + sum(f.points for f in factors) + clamp_points
    items = scored_items(conn, subject, factors)
    # The report's events: 100% of the points, each event once per factor.
    assert sum(i["points"] for i in items) == score - BASE_SCORE - clamp_points
    by_time = sorted(counting, key=lambda e: (e["time"], e["id"]))
    for factor in factors:
        rule = RULES_BY_FACTOR[factor.code]
        mine = [e["id"] for e in by_time if rule.matches(e["type"], e["attributes"])]
        # The events that counted: the earliest ones, up to the cap, in time order.
        assert list(factor.event_ids) == mine[:counted_limit(rule)]
        listed = [i for i in items if i["factor"] == factor.code]
        assert sum(i["points"] for i in listed) == factor.points
        capped = [i for i in listed if i["status"] == "capped"]
        assert all(i["points"] == 0 for i in capped)
        assert len(capped) == max(0, len(mine) - counted_limit(rule))
    for item in items:
        if item["id"] in gone:
            assert item["points"] == 0 and item["status"] in ("disputed", "corrected")
    # A report cut short of a long history still lists every event that counts.
    short = scored_items(conn, subject, factors, limit=5)
    assert sum(i["points"] for i in short) == score - BASE_SCORE - clamp_points
    assert {i["id"] for i in items if i["status"] != "capped"} <= {i["id"] for i in short} \
        or len(items) <= 5
    assert [(i["time"], i["id"]) for i in short] == sorted((i["time"], i["id"]) for i in short)


def test_the_clamp_is_reported_as_its_own_adjustment() -> None:
    store = _store()
    with store.transaction() as conn:
        n = 0
        for kind, attributes, count in (("deposit.captured", {"reason": "damage"}, 6),
                                        ("payment.declined", {}, 12),
                                        ("parking.reported", {"misparked": True}, 3)):
            for _ in range(count):
                add_event(conn, _wire(n, {"type": kind, "subject_id": "sub_a", "hour": n,
                                          "attributes": attributes}), now=0.0)
                n += 1
        body = compute_score(conn, "sub_a", 0.0)
    store.close()
    assert body["score"] == 350 and body["baseline"] == 600 and body["range"] == [350, 950]
    assert [f["points"] for f in body["factors"]] == [-200, -150, -30]
    assert body["clamp_points"] == 350 - (600 - 380)
    assert body["score"] == body["baseline"] + sum(f["points"] for f in body["factors"]) \
        + body["clamp_points"]
    # The events past a cap are not among the ones that counted.
    deposits = next(f for f in body["factors"] if f["code"] == "deposits_captured")
    assert len(deposits["event_ids"]) == 5
    assert "not counted" in deposits["text"]


def test_the_factors_that_cost_the_most_come_first_with_their_events() -> None:
    store = _store()
    with store.transaction() as conn:
        for n, (kind, attributes) in enumerate(
                [("parking.reported", {"misparked": True})] * 3 + [("payment.declined", {})] * 3
                + [("ride.ended", {"on_time": False})] * 2 + [("ride.ended", {})] * 4):
            add_event(conn, _wire(n, {"type": kind, "subject_id": "sub_a", "hour": n,
                                      "attributes": attributes}), now=0.0)
        _, factors, _ = scorecard(conn, "sub_a")
    store.close()
    costs = [f for f in factors if f.points < 0]
    assert [(f.code, f.points) for f in costs] == [
        ("payment_declines", -45), ("parking_violations", -30), ("late_returns", -10)]
    assert [len(f.event_ids) for f in costs] == [3, 3, 2]
    assert all(f.text.startswith(f.description) and "cost" in f.text for f in costs)
