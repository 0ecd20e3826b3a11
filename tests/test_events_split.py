"""A mobile number split over an event's attribute values is refused, on the terminal and by
the back end with the same reason; the attributes real events carry are not."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.event_check import check_event
from payments.events import EventError, check_attributes, format_time, make_event
from payments.phone_numbers import digit_groups, split_mobile_number

TERMINAL = "bike-0001"
MOBILES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


def _wire(attributes: object) -> dict[str, Any]:
    return {"id": "evt_" + "0" * 32, "schema": 1, "type": "ride.ended",
            "time": "2026-11-26T10:30:00Z", "terminal_id": TERMINAL, "subject_id": None,
            "attributes": attributes}


def _refused_on_both_sides(attributes: dict[str, Any]) -> str:
    with pytest.raises(EventError) as caught:
        check_attributes(attributes)
    assert caught.value.reason == "forbidden_attribute", caught.value
    answer = check_event(_wire(attributes), TERMINAL)
    assert answer is not None and answer.split(":")[0] == caught.value.reason, answer
    return str(caught.value)


@pytest.mark.parametrize("attributes", [
    {"a": 138, "b": 13800, "c": 1380},
    {"p1": "138", "p2": "0013", "p3": "8000"},
    {"p": ["138", "0013"], "q": 8000},
    {"outer": {"first": 13800, "rest": [138000]}},
    {"head": "1 3 8", "ride_id": "ride_7", "mid": 13800, "on_time": True, "tail": "#138"},
    {"a": 13800, "amount_minor": 5700, "b": "one-three-eight: 138000"},
])
def test_examples_of_split_numbers_are_refused(attributes: dict[str, Any]) -> None:
    message = _refused_on_both_sides(attributes)
    assert "phone" in message
    assert "13800" not in message  # the refusal never repeats the digits


def test_the_refusal_names_the_attributes_in_document_order() -> None:
    assert split_mobile_number({"ride_id": "r", "x": 139, "y": {"z": ["1234", 5678]}}) == (
        "x", "y.z[0]", "y.z[1]")


def test_make_event_refuses_to_write_a_split_number() -> None:
    with pytest.raises(EventError, match="split"):
        make_event("ride.ended", terminal_id=TERMINAL, subject_id=None,
                   attributes={"a": 13800, "b": 138000})


def _pieces(digits: str, cuts: list[int]) -> list[str]:
    points = [0, *sorted(set(cuts)), len(digits)]
    return [digits[a:b] for a, b in pairwise(points) if b > a]


# Values between the pieces that are not plain digits: they do not break the number.
FILLERS = st.sampled_from([
    ("on_time", True), ("ride_id", "ride_5551234"), ("amount_minor", 5700),
    ("duration_s", 2820), ("currency", "CNY"), ("reason", "code_expired"),
    ("time", "2026-11-26T10:30:00.123Z"), ("lat", "31.2304160"), ("started_at", 1764487200),
])


@st.composite
def split_numbers(draw: st.DrawFn) -> dict[str, Any]:
    """A mobile number in 2-5 pieces, each an integer or text, nested or not, with fillers."""
    digits = draw(MOBILES)
    cuts = draw(st.lists(st.integers(1, len(digits) - 1), min_size=1, max_size=4))
    attributes: dict[str, Any] = {}
    for n, piece in enumerate(_pieces(digits, cuts)):
        if piece[0] != "0" and len(piece) <= 6 and draw(st.booleans()):
            value: Any = int(piece)
        else:
            value = draw(st.sampled_from(["{}", "ref {}", "#{}", "({})", " {} "])).format(
                piece.replace("0", "O") if draw(st.booleans()) and piece.count("0") < 2
                and len(piece) >= 4 else piece)
        shape = draw(st.sampled_from(["flat", "list", "dict"]))
        if shape == "list":
            value = [value]
        elif shape == "dict":
            value = {"part": value}
        attributes[f"k{n}"] = value
        if draw(st.booleans()):
            key, filler = draw(FILLERS)
            attributes[f"{key}_{n}" if not key.endswith(("_s", "_minor")) else
                       f"f{n}_{key}"] = filler
    return attributes


@given(split_numbers())
def test_a_split_mobile_number_is_refused_on_both_sides(attributes: dict[str, Any]) -> None:
    assert split_mobile_number(attributes) is not None, (attributes, digit_groups(attributes))
    _refused_on_both_sides(attributes)


# What the terminals' events carry (kinds and keys as the bike lock and the kiosk emit them),
# with realistic ranges, plus the measures a deployment adds: battery, position, timestamps.
HEX = st.text("0123456789abcdef", min_size=12, max_size=32)
IDS = {
    "ride_id": HEX.map(lambda h: f"ride_{h[:16]}"),
    "order_id": HEX.map(lambda h: f"ord_{h[:24]}"),
    "charge_id": HEX.map(lambda h: f"ch_{h}"),
    "hold_id": HEX.map(lambda h: f"hold_{h}"),
    "refund_id": HEX.map(lambda h: f"rf_{h}"),
    "enrollment_id": st.uuids().map(str),
    "dock_id": st.integers(0, 10**12).map(lambda n: f"dock-{n}"),
}
MONEY = st.integers(0, 99_999_999)
WHEN = st.datetimes(datetime(2020, 1, 1), datetime(2039, 12, 31), timezones=st.just(UTC))
KINDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "ride.ended": {"ride_id": IDS["ride_id"], "duration_s": st.integers(0, 3 * 86400),
                   "blocks": st.integers(0, 150), "on_time": st.booleans(),
                   "fare_minor": MONEY, "currency": st.just("CNY")},
    "deposit.held": {"ride_id": IDS["ride_id"], "amount_minor": MONEY,
                     "currency": st.just("CNY"), "hold_id": IDS["hold_id"],
                     "reason_codes": st.just("parking_violations,payment_declines")},
    "payment.captured": {"order_id": IDS["order_id"], "charge_id": IDS["charge_id"],
                         "method": st.sampled_from(["smile", "wallet_code", "merchant_qr"]),
                         "amount_minor": MONEY, "currency": st.just("CNY")},
    "payment.refunded": {"order_id": IDS["order_id"], "charge_id": IDS["charge_id"],
                         "refund_id": IDS["refund_id"], "amount_minor": MONEY,
                         "currency": st.just("CNY")},
    "order.cancelled": {"order_id": IDS["order_id"], "reason": st.just("timed_out"),
                        "amount_minor": MONEY, "currency": st.just("CNY")},
    "face.enrolled": {"enrollment_id": IDS["enrollment_id"], "frames": st.integers(1, 60),
                      "retention_days": st.integers(1, 3650), "digit_free": st.booleans(),
                      "live_checked": st.booleans()},
    "face.verified": {"order_id": IDS["order_id"], "digits_asked": st.booleans(),
                      "decision_ms": st.integers(0, 600_000),
                      "reasons": st.just("digits_matched")},
    "liveness.failed": {"reason": st.just("spoof_suspected"),
                        "failed_checks": st.just("flicker,moire,planar_motion"),
                        "actions_done": st.just("blink,smile")},
    "parking.reported": {"misparked": st.booleans(), "dock_id": IDS["dock_id"],
                         "place": st.sampled_from(["Xintiandi station bike bay (a legal bay)",
                                                   "Exit 3, Line 10", "Gate 12",
                                                   "pavement in front of a shop entrance"])},
}
EXTRAS: dict[str, st.SearchStrategy[Any]] = {
    "battery_pct": st.integers(0, 100),
    "lat": st.floats(-90, 90).map(lambda v: f"{v:.7f}"),
    "lon": st.floats(-180, 180).map(lambda v: f"{v:.7f}"),
    "lat_e6": st.integers(-90_000_000, 90_000_000),
    "lon_e7": st.integers(-1_800_000_000, 1_800_000_000),
    "position": st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(
        lambda p: f"{p[0]:.6f},{p[1]:.6f}"),
    "reported_at": WHEN.map(lambda w: int(w.timestamp())),
    "seen_at_ms": WHEN.map(lambda w: int(w.timestamp() * 1000)),
    "reported": WHEN.map(format_time),
    "uploaded_count": st.integers(0, 999_999_999),
    "attempts": st.integers(0, 9),
}


@st.composite
def benign_attributes(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(KINDS)))
    attributes = {key: draw(strategy) for key, strategy in KINDS[kind].items()}
    extras = draw(st.lists(st.sampled_from(sorted(EXTRAS)), max_size=5, unique=True))
    attributes.update({key: draw(EXTRAS[key]) for key in extras})
    keys = draw(st.permutations(sorted(attributes)))
    return {key: attributes[key] for key in keys}


@given(benign_attributes())
def test_the_attributes_real_events_carry_pass(attributes: dict[str, Any]) -> None:
    assert split_mobile_number(attributes) is None, digit_groups(attributes)
    assert check_attributes(attributes) == attributes
    assert check_event(_wire(attributes), TERMINAL) is None


def test_measures_ids_and_booleans_are_not_digit_groups() -> None:
    attributes = {"ride_id": "ride_13800138000", "duration_s": 13800, "fare_minor": 138000,
                  "lat": "31.2304160", "lon": "121.4737010", "on_time": True,
                  "reported_at": 1764487200, "blocks": 13}
    assert [g.digits for g in digit_groups(attributes)] == ["13"]
    assert check_attributes(attributes) == attributes


@pytest.mark.parametrize("attributes", [
    {"lat": "138.00138000"},  # 8 decimals: not a coordinate
    {"lon": "238.0013800"},  # out of range
    {"reported_at": 13800138000},  # year 2407: not a timestamp
    {"lat_e6": 13800138000},
])
def test_numbers_dressed_as_measures_are_still_refused(attributes: dict[str, Any]) -> None:
    _refused_on_both_sides(attributes)
