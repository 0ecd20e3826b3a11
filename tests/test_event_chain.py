"""Per-terminal event hash chain: the outbox links each event to the one appended before it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from payments.event_chain import chain_hash
from payments.events import Event, EventError, make_event
from payments.outbox import Outbox


def _event(n: int) -> Event:
    return make_event("ride.ended", terminal_id="bike-0001", subject_id="sub_1",
                      attributes={"ride_id": f"ride_{n}", "on_time": True},
                      clock=lambda: datetime(2026, 11, 26, tzinfo=UTC))


def _stored(box: Outbox) -> list[Event]:
    return [p.event for p in box.pending(100)]


def test_each_appended_event_names_the_hash_of_the_one_before(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        for n in range(4):
            box.append(_event(n))
        stored = _stored(box)
    assert stored[0].prev_hash is None
    for before, after in pairwise(stored):
        assert after.prev_hash == chain_hash(before, before.prev_hash)


def test_an_event_appended_twice_does_not_move_the_chain(tmp_path: Path) -> None:
    first, second = _event(1), _event(2)
    with Outbox(tmp_path / "o.db") as box:
        assert box.append(first)
        assert not box.append(first)
        box.append(second)
        stored = _stored(box)
    assert len(stored) == 2
    assert stored[1].prev_hash == chain_hash(stored[0], None)


def test_the_chain_continues_after_a_restart_and_a_purge(tmp_path: Path) -> None:
    clock = [1000.0]
    with Outbox(tmp_path / "o.db", clock=lambda: clock[0]) as box:
        box.append(_event(1))
        head = _stored(box)[0]
        box.mark_delivered([head.id])
        clock[0] += 100
        assert box.purge(settled_before=clock[0]) == 1
    with Outbox(tmp_path / "o.db") as box:
        box.append(_event(2))
        (after,) = _stored(box)
    assert after.prev_hash == chain_hash(head, None)


def test_the_hash_reads_the_same_from_the_wire_form() -> None:
    event = _event(7)
    prev = "ab" * 32
    chained = Event.from_json(json.dumps({**event.to_dict(), "prev_hash": prev}))
    wire = json.loads(chained.to_json())
    assert chained.prev_hash == prev and wire["prev_hash"] == prev
    assert chain_hash(wire, wire["prev_hash"]) == chain_hash(chained, prev)
    assert chain_hash(wire, None) != chain_hash(wire, prev)
    assert chain_hash({**wire, "attributes": {"ride_id": "ride_8", "on_time": True}}, prev) \
        != chain_hash(wire, prev)


def test_an_unchained_event_keeps_its_old_wire_form() -> None:
    assert "prev_hash" not in _event(1).to_dict()


@pytest.mark.parametrize("bad", ["x" * 64, "AB" * 32, "ab" * 31, 42])
def test_a_malformed_prev_hash_is_refused(bad: object) -> None:
    with pytest.raises(EventError, match="prev_hash"):
        Event.from_dict({**_event(1).to_dict(), "prev_hash": bad})
