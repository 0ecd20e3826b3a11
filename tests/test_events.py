"""Events: registry, privacy checks on attributes, JSON round trip, injected clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.events import EVENT_TYPES, Event, EventError, looks_like_phone_number, make_event

NOW = datetime(2026, 11, 26, 10, 30, 0, 123000, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def event(**attributes: object) -> Event:
    return make_event("ride.started", terminal_id="bike-0001", subject_id="sub_42",
                      attributes=attributes, clock=clock)


def test_make_event_stamps_id_schema_and_injected_time() -> None:
    e = event(ride_id="ride_7", minutes=12, paid=True)
    assert e.id.startswith("evt_") and len(e.id) == 36
    assert e.schema == 1
    assert e.time == NOW
    assert dict(e.attributes) == {"ride_id": "ride_7", "minutes": 12, "paid": True}


def test_ids_are_unique() -> None:
    assert len({event().id for _ in range(500)}) == 500


def test_clock_may_return_unix_seconds_or_another_zone() -> None:
    e = make_event("order.paid", terminal_id="kiosk-1", subject_id=None, clock=lambda: 0.0)
    assert e.time == datetime(1970, 1, 1, tzinfo=UTC)
    plus8 = datetime(2026, 11, 26, 18, 30, tzinfo=timezone(timedelta(hours=8)))
    e = make_event("order.paid", terminal_id="kiosk-1", subject_id=None, clock=lambda: plus8)
    assert e.time.tzinfo is UTC and e.time.hour == 10


def test_wire_form_matches_the_api_contract() -> None:
    e = event(ride_id="ride_7")
    data = json.loads(e.to_json())
    assert data == {
        "id": e.id, "schema": 1, "type": "ride.started", "time": "2026-11-26T10:30:00.123Z",
        "terminal_id": "bike-0001", "subject_id": "sub_42", "attributes": {"ride_id": "ride_7"},
    }


def test_json_round_trip_preserves_the_event() -> None:
    e = event(ride_id="ride_7", minutes=12, paid=False)
    assert Event.from_json(e.to_json()) == e


def test_unresolved_subject_is_allowed() -> None:
    e = make_event("code.rejected", terminal_id="bike-0001", subject_id=None,
                   attributes={"reason": "code_expired"}, clock=clock)
    assert Event.from_json(e.to_json()).subject_id is None


def test_every_registered_type_can_be_made() -> None:
    for kind in EVENT_TYPES:
        assert make_event(kind, terminal_id="t1", subject_id=None, clock=clock).type == kind


def test_unknown_type_is_refused() -> None:
    with pytest.raises(EventError, match="unknown event type"):
        make_event("ride.teleported", terminal_id="t1", subject_id=None, clock=clock)


@pytest.mark.parametrize(
    "key",
    ["phone", "phone_number", "rider_mobile", "face_crop", "embedding", "face_embedding",
     "image_b64", "selfie_url", "tel", "iris_code", "Bad-Key", "", "x" * 65],
)
def test_keys_naming_personal_data_or_malformed_are_refused(key: str) -> None:
    with pytest.raises(EventError):
        event(**{key: "x"})


@pytest.mark.parametrize(
    "value",
    ["13800138000", "+86 138 0013 8000", "138-0013-8000", "(555) 123-4567", "call 5551234567",
     "+8613800138000"],
)
def test_phone_like_values_are_refused(value: str) -> None:
    assert looks_like_phone_number(value)
    with pytest.raises(EventError, match="phone"):
        event(note=value)


@pytest.mark.parametrize(
    "value",
    ["ride_7", "2026-11-26", "2026-11-26T10:30:00Z", "hold_3f2a1234567b9c", "123456",
     "evt_" + "1234567a" * 4, "code_expired", "hotel"],
)
def test_ordinary_values_pass(value: str) -> None:
    assert not looks_like_phone_number(value)
    assert event(note=value).attributes["note"] == value


def test_hotel_id_is_not_mistaken_for_a_phone_key() -> None:
    assert event(hotel_id="h1").attributes["hotel_id"] == "h1"


@pytest.mark.parametrize("value", [1.5, None, [1, 2], {"a": 1}, b"raw", 13800138000, "x" * 257])
def test_non_flat_or_suspicious_values_are_refused(value: object) -> None:
    with pytest.raises(EventError):
        event(note=value)


def test_subject_id_that_is_a_phone_number_is_refused() -> None:
    with pytest.raises(EventError, match="phone"):
        make_event("ride.started", terminal_id="t1", subject_id="13800138000", clock=clock)


def test_attributes_are_read_only() -> None:
    e = event(ride_id="r1")
    with pytest.raises(TypeError):
        e.attributes["ride_id"] = "r2"  # type: ignore[index]


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"id": "evt_1"}',
     json.dumps({"id": "evt_" + "0" * 32, "schema": 2, "type": "ride.started",
                 "time": "2026-11-26T10:30:00Z", "terminal_id": "t", "subject_id": None,
                 "attributes": {}}),
     json.dumps({"id": "evt_" + "0" * 32, "schema": 1, "type": "ride.started",
                 "time": "2026-11-26T10:30:00", "terminal_id": "t", "subject_id": None,
                 "attributes": {}})],
)
def test_malformed_json_is_an_event_error(text: str) -> None:
    with pytest.raises(EventError):
        Event.from_json(text)


@given(st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=30)),
    max_size=5,
))
def test_anything_accepted_round_trips(attributes: dict[str, object]) -> None:
    try:
        e = event(**attributes)
    except EventError:
        return
    assert Event.from_json(e.to_json()) == e
