"""Deposit policy: thresholds at the boundaries, offline rules, restriction precedence."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.clients.models import Restriction, ScoreFactor, ScoreReport
from payments.money import Money
from payments.policy import DepositDecision, DepositRules, decide_deposit

AS_OF = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
RULES = DepositRules()


def report(score: int, *, factors: tuple[ScoreFactor, ...] = (),
           restrictions: tuple[str, ...] = ()) -> ScoreReport:
    return ScoreReport(
        "sub_1", score, AS_OF, factors,
        tuple(Restriction(code, f"{code} description") for code in restrictions),
    )


def test_rules_have_exactly_the_configured_fields_and_defaults() -> None:
    assert [(f.name, f.default) for f in fields(DepositRules)] == [
        ("amount_minor", 19900), ("currency", "CNY"), ("waive_at_score", 650),
        ("decline_below_score", 0), ("decline_restrictions", ("court_blacklist",)),
        ("offline_rule", "require_deposit"),
    ]


def test_rules_bind_from_toml_like_config() -> None:
    from terminal.config.binder import bind

    rules = bind(DepositRules, {"waive_at_score": 700, "decline_restrictions": ["fraud"]},
                 source="t.toml")
    assert rules.decline_restrictions == ("fraud",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount_minor": 0}, "amount_minor"),
        ({"amount_minor": 1.5}, "amount_minor"),
        ({"currency": "yuan"}, "currency"),
        ({"waive_at_score": 349}, "waive_at_score"),
        ({"waive_at_score": 952}, "waive_at_score"),
        ({"decline_below_score": 350}, "decline_below_score"),
        ({"decline_below_score": 700}, "must not exceed"),
        ({"decline_restrictions": ["court_blacklist"]}, "decline_restrictions"),
        ({"decline_restrictions": ("Court Blacklist",)}, "decline_restrictions"),
        ({"offline_rule": "shrug"}, "offline_rule"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DepositRules(**changes)


def test_score_exactly_at_threshold_waives() -> None:
    decision = decide_deposit(RULES, report(650), offline=False)
    assert decision.outcome == "waived" and decision.deposit is None
    assert decision.headline.code == "score_above_threshold"
    assert decision.headline.text == (
        "Your score 650 is at or above 650, so no deposit is needed."
    )
    assert decision.reason_codes == ("baseline_score",)


def test_score_one_below_threshold_requires_deposit() -> None:
    decision = decide_deposit(RULES, report(649), offline=False)
    assert decision.outcome == "required"
    assert decision.deposit == Money(19900, "CNY")
    assert decision.headline.code == "score_below_threshold"
    assert "649" in decision.headline.text and "199.00 CNY" in decision.headline.text


def test_decline_below_score_boundary() -> None:
    rules = DepositRules(decline_below_score=450)
    assert decide_deposit(rules, report(449), offline=False).outcome == "declined"
    assert decide_deposit(rules, report(449), offline=False).headline.code == (
        "score_below_minimum"
    )
    assert decide_deposit(rules, report(450), offline=False).outcome == "required"


def test_decline_below_zero_never_declines_on_score() -> None:
    assert decide_deposit(RULES, report(350), offline=False).outcome == "required"


def test_court_blacklist_declines_even_a_top_score() -> None:
    decision = decide_deposit(RULES, report(950, restrictions=("court_blacklist",)),
                              offline=False)
    assert decision.outcome == "declined" and decision.deposit is None
    assert decision.reasons == (decision.reasons[0],)
    assert decision.reasons[0].code == "court_blacklist"
    assert decision.reasons[0].text == (
        "A court has listed this account as a defaulter; rides are not available. "
        "You can contest this with the score service. "
        "Origin: court_blacklist description."
    )


def test_restriction_precedes_low_score_decline() -> None:
    rules = DepositRules(decline_below_score=500)
    decision = decide_deposit(rules, report(400, restrictions=("court_blacklist",)),
                              offline=False)
    assert [r.code for r in decision.reasons] == ["court_blacklist"]


def test_unlisted_restriction_does_not_decline() -> None:
    decision = decide_deposit(RULES, report(700, restrictions=("marketing_opt_out",)),
                              offline=False)
    assert decision.outcome == "waived"


def test_configured_unknown_restriction_declines_with_its_description() -> None:
    rules = DepositRules(decline_restrictions=("fraud_hold",))
    decision = decide_deposit(rules, report(800, restrictions=("fraud_hold",)), offline=False)
    assert decision.outcome == "declined"
    assert "fraud_hold description" in decision.reasons[0].text


@pytest.mark.parametrize(
    ("rule", "outcome", "deposit"),
    [("require_deposit", "required", Money(19900, "CNY")), ("decline", "declined", None),
     ("waive", "waived", None)],
)
def test_offline_rules(rule: str, outcome: str, deposit: Money | None) -> None:
    decision = decide_deposit(DepositRules(offline_rule=rule), None, offline=True)  # type: ignore[arg-type]
    assert (decision.outcome, decision.deposit) == (outcome, deposit)
    assert [r.code for r in decision.reasons] == ["score_service_offline"]
    assert "score service" in decision.reasons[0].text


def test_offline_ignores_a_stale_score() -> None:
    decision = decide_deposit(RULES, report(900), offline=True)
    assert decision.outcome == "required"


def test_missing_score_while_online_uses_offline_rule_with_its_own_code() -> None:
    decision = decide_deposit(RULES, None, offline=False)
    assert decision.outcome == "required"
    assert decision.reasons[0].code == "score_unavailable"
    assert decision.headline == decision.reasons[0]


def test_lowering_factors_explain_a_required_deposit_at_most_four_reasons() -> None:
    factors = (
        ScoreFactor("late_returns", "Returned 3 bikes late", -30),
        ScoreFactor("on_time_returns", "Returned 12 bikes on time", 24),
        ScoreFactor("misparking", "Parked outside a zone twice", -12),
        ScoreFactor("unpaid_fare", "One fare unpaid", -1),
    )
    decision = decide_deposit(RULES, report(600, factors=factors), offline=False)
    assert [r.code for r in decision.reasons] == ["late_returns", "misparking", "unpaid_fare"]
    assert decision.reasons[0].text == "Lowered your score: Returned 3 bikes late (-30 points)."
    assert decision.reasons[0].points == -30


def test_helping_factors_explain_a_waiver() -> None:
    factors = (ScoreFactor("on_time_returns", "Returned 12 bikes on time", 24),
               ScoreFactor("late_returns", "Returned 1 bike late", -5))
    decision = decide_deposit(RULES, report(700, factors=factors), offline=False)
    assert [r.code for r in decision.reasons] == ["on_time_returns"]
    assert decision.headline.code == "score_above_threshold"


def test_many_restrictions_give_at_most_four_reasons() -> None:
    codes = tuple(f"r{i}" for i in range(6))
    rules = DepositRules(decline_restrictions=codes)
    decision = decide_deposit(rules, report(700, restrictions=codes), offline=False)
    assert len(decision.reasons) == 4


def test_decision_refuses_inconsistent_fields() -> None:
    with pytest.raises(ValueError):
        DepositDecision("waived", Money(1, "CNY"), ())


@given(
    score=st.integers(350, 950),
    waive=st.integers(350, 951),
    offline=st.booleans(),
    blacklisted=st.booleans(),
)
def test_every_decision_is_consistent(score: int, waive: int, offline: bool,
                                      blacklisted: bool) -> None:
    rules = DepositRules(waive_at_score=waive)
    restrictions = ("court_blacklist",) if blacklisted else ()
    decision = decide_deposit(rules, report(score, restrictions=restrictions), offline=offline)
    assert 1 <= len(decision.reasons) <= 4
    assert all(r.text.endswith(".") and r.code for r in decision.reasons)
    if offline:
        assert decision.outcome == "required"
    elif blacklisted:
        assert decision.outcome == "declined"
    else:
        assert decision.outcome == ("waived" if score >= waive else "required")
