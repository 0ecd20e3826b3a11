"""The Smile to Pay risk rule: digits asked never fall below what the false-match budget allows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.money import Money
from payments.smile_policy import (
    MAX_REASONS,
    SmilePolicyError,
    SmileRiskInput,
    SmileRiskSettings,
    decide_digits,
    expected_false_matches,
)

SETTINGS = SmileRiskSettings(
    fmr_at_threshold=2.5e-4,  # about 1 in 4,000 impostor comparisons
    false_match_budget=1e-3,  # at most 4 candidates
    currency="CNY",
    no_digits_max_minor=3000,
    last4_max_minor=20000,
    max_order_minor=100000,
)
_RANK = {"none": 0, "last4": 1, "all": 2, "unavailable": 3}


def cny(minor: int) -> Money:
    return Money(minor, "CNY")


def decide(amount: int, regulars: int, sharing: int | None = None, at_least: str = "none",
           settings: SmileRiskSettings = SETTINGS):
    return decide_digits(SmileRiskInput(cny(amount), regulars, sharing, at_least), settings)


def test_small_order_with_few_regulars_needs_no_digits():
    d = decide(1500, regulars=3)
    assert d.ask == "none"
    assert d.reason_codes == ("regular_small_order",)
    assert d.expected_false_matches == pytest.approx(3 * 2.5e-4)


def test_too_many_regulars_for_the_budget_asks_last_four():
    d = decide(1500, regulars=5)
    assert d.ask == "last4"
    assert d.reason_codes == ("too_many_regulars", "last4_enough")


def test_order_above_digit_free_limit_asks_last_four():
    d = decide(3001, regulars=1)
    assert d.ask == "last4"
    assert d.reason_codes[0] == "order_above_digit_free_limit"


def test_no_regulars_asks_last_four():
    assert decide(100, regulars=0).reason_codes[0] == "no_regulars_here"


def test_last_four_shared_by_few_accounts_are_enough():
    d = decide(5000, regulars=0, sharing=4)
    assert d.ask == "last4"
    assert d.candidates == 4
    assert d.expected_false_matches == pytest.approx(1e-3)


def test_popular_last_four_escalate_to_full_number():
    d = decide(5000, regulars=0, sharing=5)
    assert d.ask == "all"
    assert "last4_shared" in d.reason_codes
    assert d.reasons[-1].code == "full_number_needed"
    assert "5 accounts" in next(r.text for r in d.reasons if r.code == "last4_shared")


def test_large_order_needs_full_number_even_with_unique_suffix():
    d = decide(20001, regulars=0, sharing=1)
    assert d.ask == "all"
    assert "order_above_last4_limit" in d.reason_codes


def test_order_above_face_limit_is_unavailable():
    d = decide(100001, regulars=1)
    assert d.ask == "unavailable"
    assert d.reason_codes == ("order_above_face_limit",)
    assert "1000.00 CNY" in d.reasons[0].text


def test_matcher_weaker_than_budget_makes_smile_to_pay_unavailable():
    weak = SmileRiskSettings(1e-2, 1e-3, "CNY", 3000, 20000)
    assert decide(100, regulars=1, settings=weak).ask == "unavailable"


def test_failed_digit_free_match_asks_at_least_last_four():
    d = decide(100, regulars=1, at_least="last4")
    assert d.ask == "last4"
    assert d.reason_codes[0] == "digit_free_match_failed"


def test_failed_last_four_match_asks_full_number():
    d = decide(100, regulars=1, sharing=1, at_least="all")
    assert d.ask == "all"
    assert d.reason_codes == ("last4_match_failed", "full_number_needed")


def test_digit_free_mode_can_be_disabled():
    off = SmileRiskSettings(2.5e-4, 1e-3, "CNY", 0, 20000)
    assert decide(1, regulars=1, settings=off).reason_codes[0] == "digit_free_disabled"


@pytest.mark.parametrize(
    ("risk", "message"),
    [
        (SmileRiskInput(Money(100, "USD"), 1), "USD"),
        (SmileRiskInput(cny(-1), 1), "amount"),
        (SmileRiskInput(cny(1), -1), "counts"),
        (SmileRiskInput(cny(1), 1, -2), "counts"),
        (SmileRiskInput(cny(1), 1, None, "some"), "mode"),  # type: ignore[arg-type]
    ],
)
def test_bad_inputs_raise_a_clear_error(risk, message):
    with pytest.raises(SmilePolicyError, match=message):
        decide_digits(risk, SETTINGS)


@pytest.mark.parametrize(
    "kwargs",
    [{"fmr_at_threshold": 0.0}, {"fmr_at_threshold": 1.0}, {"false_match_budget": 0.0},
     {"no_digits_max_minor": -1}],
)
def test_bad_settings_raise(kwargs):
    base = dict(fmr_at_threshold=1e-4, false_match_budget=1e-3, currency="CNY",
                no_digits_max_minor=0, last4_max_minor=0)
    with pytest.raises(SmilePolicyError):
        SmileRiskSettings(**{**base, **kwargs})


def test_expected_false_matches_is_candidates_times_rate():
    assert expected_false_matches(10, 1e-4) == pytest.approx(1e-3)
    with pytest.raises(SmilePolicyError):
        expected_false_matches(-1, 1e-4)


amounts = st.integers(0, 120000)
counts = st.integers(0, 50)
maybe_counts = st.none() | counts
floors = st.sampled_from(["none", "last4", "all"])
fmrs = st.floats(1e-6, 5e-3)
budgets = st.floats(1e-5, 1e-2)


@given(amounts, counts, maybe_counts, floors, fmrs, budgets)
def test_decision_never_exceeds_the_false_match_budget(amount, regulars, sharing, floor, fmr,
                                                       budget):
    settings = SmileRiskSettings(fmr, budget, "CNY", 3000, 20000, 100000)
    d = decide(amount, regulars, sharing, floor, settings)
    assert 1 <= len(d.reasons) <= MAX_REASONS
    if d.ask == "unavailable":
        return
    assert _RANK[d.ask] >= _RANK[floor]
    assert d.expected_false_matches <= budget
    if d.ask == "none":
        assert amount <= 3000 and regulars > 0 and regulars * fmr <= budget
    if d.ask == "last4":
        assert amount <= 20000
        assert sharing is None or sharing * fmr <= budget


@given(amounts, amounts, counts, maybe_counts, floors)
def test_a_larger_order_never_needs_fewer_digits(a, b, regulars, sharing, floor):
    small, large = sorted((a, b))
    d_small = decide(small, regulars, sharing, floor)
    d_large = decide(large, regulars, sharing, floor)
    assert _RANK[d_large.ask] >= _RANK[d_small.ask]


@given(amounts, counts, counts, counts, floors)
def test_more_accounts_sharing_the_digits_never_need_fewer_digits(amount, regulars, a, b, floor):
    few, many = sorted((a, b))
    assert _RANK[decide(amount, regulars, many, floor).ask] >= _RANK[
        decide(amount, regulars, few, floor).ask
    ]
    if few > 0:  # with no regulars at all there is nobody to match without digits
        assert _RANK[decide(amount, many, None, floor).ask] >= _RANK[
            decide(amount, few, None, floor).ask
        ]
