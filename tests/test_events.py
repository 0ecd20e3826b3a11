"""Events: registry, privacy checks on attributes, JSON round trip, injected clock."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from payments.events import (
    EVENT_TYPES,
    Event,
    EventError,
    derived_event_id,
    format_time,
    looks_like_phone_number,
    make_event,
)

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


# -- ids are identifiers; free text refuses phone numbers however they are written -------------

PHONES = st.integers(10**6, 10**15 - 1).map(str)  # 7 to 15 digits
SEPARATORS = [" ", "-", ".", "/", "_", "\u00a0", "\u2013", "\u2014", "\u00b7", "\u3000",
              " - ", "(", ")", "'", ","]


def test_subject_ids_with_long_digit_runs_are_accepted() -> None:
    for subject in ["rider-5551234", "sub_13800138000x", "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed",
                    "3f2a1234567b4c5d-9e8f-4a1b-8c2d-1234567890ab"]:
        e = make_event("ride.started", terminal_id="bike-0001234", subject_id=subject,
                       attributes={"ride_id": "ride_1234567abc", "hold_id": "hold-7654321"},
                       clock=clock)
        assert Event.from_json(e.to_json()).subject_id == subject


@given(st.uuids())
def test_uuid_subject_ids_are_never_mistaken_for_phone_numbers(subject: object) -> None:
    for text in (str(subject), subject.hex):  # type: ignore[attr-defined]
        e = make_event("deposit.held", terminal_id="t1", subject_id=text,
                       attributes={"charge_id": text, "order_id": f"ord_{text}"[:64]},
                       clock=clock)
        assert e.subject_id == text


@given(st.from_regex(r"[a-z]{1,8}[-_.:][0-9]{7,20}", fullmatch=True))
def test_prefixed_numeric_ids_are_ids(subject: str) -> None:
    assert make_event("ride.ended", terminal_id="t1", subject_id=subject,
                      clock=clock).subject_id == subject


@pytest.mark.parametrize("subject", ["13800138000", "138-0013-8000",
                                     "138.0013.8000", "138_0013_8000", "138OO138OOO",
                                     "tel:13800138000", "phone-5551234", "5551234"])
def test_an_id_that_is_a_phone_number_is_refused(subject: str) -> None:
    with pytest.raises(EventError, match="phone"):
        make_event("ride.started", terminal_id="t1", subject_id=subject, clock=clock)
    with pytest.raises(EventError, match="phone"):
        event(ride_id=subject)


def _group(digits: str, cuts: list[int], separator: str) -> str:
    points = sorted({c % len(digits) for c in cuts} - {0})
    parts, last = [], 0
    for p in points:
        parts.append(digits[last:p])
        last = p
    parts.append(digits[last:])
    return separator.join(parts)


@given(PHONES, st.sampled_from(SEPARATORS), st.lists(st.integers(1, 14), max_size=4),
       st.sampled_from(["", "+", "call ", "tel ", "mob: ", "ring me on "]))
def test_a_phone_number_with_any_separators_is_refused(
    digits: str, separator: str, cuts: list[int], prefix: str
) -> None:
    text = prefix + _group(digits, cuts, separator)
    assume(not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", text))  # a date
    assert looks_like_phone_number(text), text
    with pytest.raises(EventError, match="phone" if text.isprintable() else "control"):
        event(note=text)


@given(PHONES.filter(lambda d: "0" in d), st.sampled_from(["O", "o"]),
       st.sampled_from(["", " ", "-", "."]), st.lists(st.integers(1, 14), max_size=3))
def test_letter_o_for_zero_is_read_as_a_zero(
    digits: str, letter: str, separator: str, cuts: list[int]
) -> None:
    if sum(ch != "0" for ch in digits) < 3:
        digits = "138" + digits  # a number, not a row of Os
    text = _group(digits.replace("0", letter), cuts, separator)
    assert looks_like_phone_number(text), text
    with pytest.raises(EventError, match="phone"):
        event(note=text)


@given(PHONES, st.sampled_from([0xFF10, 0x0660, 0x06F0, 0x0966, 0x1D7CE]))
def test_digits_of_other_scripts_are_read_as_digits(digits: str, zero: int) -> None:
    text = "".join(chr(zero + int(d)) for d in digits)
    assert looks_like_phone_number(text), text


@given(PHONES, st.booleans())
def test_a_phone_number_written_in_hex_is_refused(digits: str, prefixed: bool) -> None:
    text = f"{int(digits):x}"
    if prefixed or text.isdigit() or sum(ch.isdigit() for ch in text) < 2:
        text = "0x" + text
    assert looks_like_phone_number(text), text
    with pytest.raises(EventError, match="phone"):
        event(note=text)


@given(st.integers(10**6, 10**9 - 1), st.sampled_from(["note", "number", "ref", "value"]))
def test_an_integer_of_seven_digits_is_refused_unless_it_measures_something(
    value: int, key: str
) -> None:
    with pytest.raises(EventError, match="phone"):
        event(**{key: value})
    assert event(amount_minor=value, duration_s=value).attributes["amount_minor"] == value


@given(PHONES, st.integers(2, 4), st.data())
def test_a_phone_number_split_across_attributes_is_refused(
    digits: str, pieces: int, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(1, len(digits) - 1), min_size=pieces - 1,
                                    max_size=pieces - 1)))
    parts = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    with pytest.raises(EventError, match="phone"):
        event(**{f"part{i}": part for i, part in enumerate(parts)})


@pytest.mark.parametrize("value", ["138 and 0013 and 8000"])
def test_digits_spread_over_one_text_are_refused(value: str) -> None:
    with pytest.raises(EventError, match="phone"):
        event(note=value)


@given(st.text(st.characters(blacklist_categories=("Nd", "No", "Nl", "Cc", "Cs")), max_size=60))
def test_text_without_digits_passes(text: str) -> None:
    if "O" in text or "o" in text or any(ch in "abcdefABCDEF" for ch in text):
        text = text.replace("O", "Q").replace("o", "q")
    assert not looks_like_phone_number(text)


@given(st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)))
def test_timestamps_are_not_phone_numbers(when: datetime) -> None:
    for text in (when.isoformat(), when.strftime("%Y-%m-%d %H:%M:%S"), format_time(when)):
        assert not looks_like_phone_number(text), text


def test_derived_event_ids_are_stable_and_distinct() -> None:
    first = derived_event_id("bike-1", "ride_abc", "ride.ended")
    assert first == derived_event_id("bike-1", "ride_abc", "ride.ended")
    assert first != derived_event_id("bike-1", "ride_abc", "ride.started")
    assert first != derived_event_id("bike-1", "ride_abd", "ride.ended")
    e = make_event("ride.ended", terminal_id="bike-1", subject_id=None, clock=clock,
                   event_id=first)
    assert e.id == first and Event.from_json(e.to_json()).id == first
    with pytest.raises(EventError):
        derived_event_id()
    with pytest.raises(EventError, match="event id"):
        make_event("ride.ended", terminal_id="bike-1", subject_id=None, event_id="evt_1")
