"""Smile to Pay risk rule: how many phone digits to ask for before a face payment.

A face match is only as strong as the number of enrolled accounts it is compared against. With a
per-comparison false-match rate ``fmr`` at the payment threshold, comparing a probe against ``n``
candidate templates gives about ``n × fmr`` expected false matches (a union bound, so never an
underestimate). The phone digits the customer types narrow the candidates:

- ``none``  — the candidates are this terminal's regular customers (a small gallery the back end
  keeps); only offered for small orders;
- ``last4`` — the candidates are the enrolled accounts whose phone number ends in those digits;
- ``all``   — the full number names at most one account.

The rule is pure: the caller supplies the counts (from the back end) and the order, and gets the
digits to ask with at most four plain-language reasons. It is applied twice: before any digits are
typed (``sharing_last4=None``) and again once the last four are known, so that a popular suffix
escalates to all digits — never fewer digits than the false-match budget allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from payments.errors import PaymentsError
from payments.money import Money
from payments.policy import MAX_REASONS, Reason

DigitsAsk = Literal["none", "last4", "all"]
"""How many phone digits the customer is asked to type."""

Decision = Literal["none", "last4", "all", "unavailable"]
"""``unavailable``: Smile to Pay must not be used for this order (pay by QR code instead)."""

_ORDER: dict[str, int] = {"none": 0, "last4": 1, "all": 2}


class SmilePolicyError(PaymentsError):
    """The risk rule was given inconsistent settings or inputs."""


@dataclass(frozen=True)
class SmileRiskSettings:
    """The numbers the risk rule works with (bound from the ``[smile]`` config section)."""

    # Per-comparison false-match rate of the face matcher at the payment threshold.
    fmr_at_threshold: float
    # Highest acceptable expected number of false matches for one payment.
    false_match_budget: float
    currency: str
    # Largest order paid without any digits (0 disables the digit-free mode).
    no_digits_max_minor: int
    # Largest order paid with the last four digits; larger orders need all digits.
    last4_max_minor: int
    # Largest order Smile to Pay accepts at all (0 = no limit).
    max_order_minor: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.fmr_at_threshold < 1.0:
            raise SmilePolicyError("fmr_at_threshold must be between 0 and 1")
        if not 0.0 < self.false_match_budget < 1.0:
            raise SmilePolicyError("false_match_budget must be between 0 and 1")
        if min(self.no_digits_max_minor, self.last4_max_minor, self.max_order_minor) < 0:
            raise SmilePolicyError("order limits must be >= 0")


@dataclass(frozen=True)
class SmileRiskInput:
    """What is known when the rule runs."""

    amount: Money
    # Enrolled regular customers of this terminal (the digit-free gallery).
    regulars_here: int
    # Enrolled accounts sharing the typed last four digits; None before they are typed.
    sharing_last4: int | None = None
    # Fewest digits the flow will accept now (a failed digit-free match raises it to "last4").
    at_least: DigitsAsk = "none"


@dataclass(frozen=True)
class DigitsDecision:
    """The rule's answer: which digits to ask, why, and the false-match figure behind it."""

    ask: Decision
    reasons: tuple[Reason, ...]
    # Expected false matches of the chosen mode (``candidates × fmr``); 0.0 when unavailable.
    expected_false_matches: float = 0.0
    candidates: int = 0

    def __post_init__(self) -> None:
        if not 1 <= len(self.reasons) <= MAX_REASONS:
            raise SmilePolicyError(f"a decision carries 1..{MAX_REASONS} reasons")

    @property
    def reason_codes(self) -> tuple[str, ...]:
        """Just the codes, e.g. for an event attribute."""
        return tuple(r.code for r in self.reasons)


def expected_false_matches(candidates: int, fmr: float) -> float:
    """Expected false matches when one probe is compared against ``candidates`` templates."""
    if candidates < 0:
        raise SmilePolicyError("candidate count must be >= 0")
    return candidates * fmr


def decide_digits(risk: SmileRiskInput, settings: SmileRiskSettings) -> DigitsDecision:
    """Choose the fewest digits that keep expected false matches within the budget."""
    _check(risk, settings)
    amount = risk.amount.amount_minor
    fmr, budget = settings.fmr_at_threshold, settings.false_match_budget
    if settings.max_order_minor and amount > settings.max_order_minor:
        return DigitsDecision("unavailable", (_r(
            "order_above_face_limit",
            f"Orders above {_fmt(settings.max_order_minor, settings)} cannot be paid by face",
        ),))
    if expected_false_matches(1, fmr) > budget:
        return DigitsDecision("unavailable", (_r(
            "face_match_too_weak",
            "Face matching is not accurate enough for payment on this terminal",
        ),))
    reasons: list[Reason] = []
    floor = _ORDER[risk.at_least]

    # 1. No digits: only small orders, only this terminal's regulars, only within the budget.
    if floor <= _ORDER["none"]:
        gallery_efm = expected_false_matches(risk.regulars_here, fmr)
        if settings.no_digits_max_minor == 0:
            reasons.append(_r("digit_free_disabled", "Paying without phone digits is turned off"))
        elif amount > settings.no_digits_max_minor:
            reasons.append(_r(
                "order_above_digit_free_limit",
                f"Orders above {_fmt(settings.no_digits_max_minor, settings)} need phone digits",
            ))
        elif risk.regulars_here == 0:
            reasons.append(_r("no_regulars_here", "No regular customers are enrolled here yet"))
        elif gallery_efm > budget:
            reasons.append(_r(
                "too_many_regulars",
                f"{risk.regulars_here} regular customers here: too many to tell apart by face",
            ))
        else:
            return DigitsDecision("none", (_r(
                "regular_small_order",
                "Small order at a terminal with few regular customers: no digits needed",
            ),), gallery_efm, risk.regulars_here)
    elif floor == _ORDER["last4"]:
        reasons.append(_r("digit_free_match_failed", "Not recognised as a regular customer here"))
    else:
        reasons.append(_r("last4_match_failed", "Not recognised with the last four digits"))

    # 2. Last four digits: bounded order size; candidates sharing the suffix within the budget.
    if amount > settings.last4_max_minor:
        reasons.append(_r(
            "order_above_last4_limit",
            f"Orders above {_fmt(settings.last4_max_minor, settings)} need the full phone number",
        ))
    elif floor <= _ORDER["last4"]:
        if risk.sharing_last4 is None:
            # Not typed yet: ask for them; the rule runs again with the count.
            reasons.append(_r("last4_enough", "The last four digits of your phone number suffice"))
            return DigitsDecision("last4", tuple(reasons[-MAX_REASONS:]))
        efm = expected_false_matches(risk.sharing_last4, fmr)
        if efm <= budget:
            reasons.append(_r("last4_enough", "The last four digits of your phone number suffice"))
            return DigitsDecision("last4", tuple(reasons[-MAX_REASONS:]), efm, risk.sharing_last4)
        reasons.append(_r(
            "last4_shared",
            f"{risk.sharing_last4} accounts end in those digits: the full number is needed",
        ))

    # 3. All digits: at most one candidate (checked against the budget above).
    reasons.append(_r("full_number_needed", "Please type your full phone number"))
    return DigitsDecision("all", tuple(reasons[-MAX_REASONS:]), expected_false_matches(1, fmr), 1)


def _check(risk: SmileRiskInput, settings: SmileRiskSettings) -> None:
    if risk.amount.currency != settings.currency:
        raise SmilePolicyError(
            f"order is in {risk.amount.currency}, Smile to Pay limits in {settings.currency}"
        )
    if risk.amount.amount_minor < 0:
        raise SmilePolicyError("order amount must be >= 0")
    if risk.regulars_here < 0 or (risk.sharing_last4 is not None and risk.sharing_last4 < 0):
        raise SmilePolicyError("candidate counts must be >= 0")
    if risk.at_least not in _ORDER:
        raise SmilePolicyError(f"unknown digits mode {risk.at_least!r}")


def _r(code: str, text: str) -> Reason:
    return Reason(code, text)


def _fmt(amount_minor: int, settings: SmileRiskSettings) -> str:
    return Money(amount_minor, settings.currency).format()
