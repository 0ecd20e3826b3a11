"""Money is integer minor units of one currency; fares count started blocks."""

from __future__ import annotations

import pytest

from payments.fare import FareRules, fare_for
from payments.money import Money, MoneyError


def test_money_refuses_floats_and_bad_currencies() -> None:
    with pytest.raises(MoneyError):
        Money(1.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(True, "CNY")  # type: ignore[arg-type]
    for bad in ("cny", "CN", "C1Y", "ＣＮＹ"):
        with pytest.raises(MoneyError):
            Money(1, bad)


def test_money_never_mixes_currencies() -> None:
    with pytest.raises(MoneyError):
        Money(1, "CNY") + Money(1, "USD")
    assert Money(150, "CNY") + Money(50, "CNY") == Money(200, "CNY")


@pytest.mark.parametrize(
    ("money", "text"),
    [(Money(150, "CNY"), "1.50 CNY"), (Money(5, "CNY"), "0.05 CNY"),
     (Money(-250, "USD"), "-2.50 USD"), (Money(1200, "JPY"), "1200 JPY"),
     (Money(1234, "KWD"), "1.234 KWD")],
)
def test_money_formats_with_the_currency_exponent(money: Money, text: str) -> None:
    assert money.format() == text


def test_money_json_round_trip_and_validation() -> None:
    assert Money.from_json(Money(19900, "CNY").to_json()) == Money(19900, "CNY")
    with pytest.raises(MoneyError):
        Money.from_json({"amount": 1, "currency": "CNY"})


@pytest.mark.parametrize(
    ("minutes", "blocks"), [(0, 1), (0.5, 1), (30, 1), (30.01, 2), (47, 2), (90, 3)]
)
def test_fare_counts_started_blocks(minutes: float, blocks: int) -> None:
    fare = fare_for(FareRules(amount_minor=150, block_minutes=30), minutes * 60)
    assert fare.blocks == blocks
    assert fare.amount == Money(150 * blocks, "CNY")


def test_fare_cap_and_grace() -> None:
    rules = FareRules(amount_minor=150, block_minutes=30, cap_minor=500, grace_seconds=60)
    assert fare_for(rules, 10 * 3600).amount == Money(500, "CNY")
    assert fare_for(rules, 10 * 3600).capped
    assert fare_for(rules, 59).amount == Money(0, "CNY")


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_fare_rejects_impossible_durations(bad: float) -> None:
    with pytest.raises(ValueError):
        fare_for(FareRules(), bad)
