"""Deposit policy: from a score report to waive / require / decline, with plain-words reasons.

Pure functions only. The thresholds come from :class:`DepositRules`, which the terminal
configuration uses directly as its ``[deposit]`` section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from payments.clients.models import SCORE_MAX, SCORE_MIN, ScoreFactor, ScoreReport
from payments.money import Money, MoneyError

Outcome = Literal["waived", "required", "declined"]
OfflineRule = Literal["require_deposit", "decline", "waive"]
MAX_REASONS = 4
# Factors quoted as supporting reasons, at most.
MAX_FACTOR_REASONS = 2

_CODE_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")

# Plain-words explanations of restrictions the score service reports.
RESTRICTION_TEXTS: dict[str, str] = {
    "court_blacklist": (
        "A court has listed this account as a defaulter; rides are not available. "
        "You can contest this with the score service."
    ),
}


@dataclass(frozen=True)
class DepositRules:
    """When a ride needs a deposit. Amounts are integer minor units (fen for CNY)."""

    amount_minor: int = 19900
    currency: str = "CNY"
    # A score at or above this waives the deposit (951 = never waive on score).
    waive_at_score: int = 650
    # Scores below this are declined outright (0 = never decline on score alone).
    decline_below_score: int = 0
    # Restrictions reported by the score service that decline the ride.
    decline_restrictions: tuple[str, ...] = ("court_blacklist",)
    # What to do when the score service cannot be reached in time.
    offline_rule: Literal["require_deposit", "decline", "waive"] = "require_deposit"

    def __post_init__(self) -> None:
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise ValueError("deposit.amount_minor: must be an integer (minor units, e.g. fen)")
        if self.amount_minor <= 0:
            raise ValueError(
                f"deposit.amount_minor: must be positive, got {self.amount_minor} "
                "(to never ask for a deposit, set waive_at_score = 350)"
            )
        try:
            Money(self.amount_minor, self.currency)
        except MoneyError as exc:
            raise ValueError(f"deposit.currency: {exc}") from None
        if (
            isinstance(self.waive_at_score, bool)
            or not isinstance(self.waive_at_score, int)
            or not SCORE_MIN <= self.waive_at_score <= SCORE_MAX + 1
        ):
            raise ValueError(
                f"deposit.waive_at_score: must be an integer in {SCORE_MIN}..{SCORE_MAX + 1}, "
                f"got {self.waive_at_score!r}"
            )
        d = self.decline_below_score
        if isinstance(d, bool) or not isinstance(d, int) or not (
            d == 0 or SCORE_MIN < d <= SCORE_MAX
        ):
            raise ValueError(
                f"deposit.decline_below_score: must be 0 (off) or in {SCORE_MIN + 1}..{SCORE_MAX}, "
                f"got {d!r}"
            )
        if d > self.waive_at_score:
            raise ValueError(
                f"deposit.decline_below_score ({d}) must not exceed "
                f"waive_at_score ({self.waive_at_score})"
            )
        if not isinstance(self.decline_restrictions, tuple):
            raise ValueError("deposit.decline_restrictions: must be a list of restriction codes")
        for code in self.decline_restrictions:
            if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
                raise ValueError(
                    f"deposit.decline_restrictions: {code!r} is not a snake_case restriction code"
                )
        if self.offline_rule not in ("require_deposit", "decline", "waive"):
            raise ValueError(
                "deposit.offline_rule: must be 'require_deposit', 'decline' or 'waive', "
                f"got {self.offline_rule!r}"
            )

    @property
    def deposit(self) -> Money:
        """The deposit amount as Money."""
        return Money(self.amount_minor, self.currency)


@dataclass(frozen=True)
class Reason:
    """One plain-words reason for a decision, with a stable machine code."""

    code: str
    text: str


@dataclass(frozen=True)
class DepositDecision:
    """Whether a ride needs a deposit, how much, and why (1..4 reasons)."""

    outcome: Outcome
    deposit: Money | None
    reasons: tuple[Reason, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.reasons) <= MAX_REASONS:
            raise ValueError(f"a decision carries 1..{MAX_REASONS} reasons")
        if (self.outcome == "required") != (self.deposit is not None):
            raise ValueError("a deposit amount goes with outcome 'required' and only with it")


def _points(points: int) -> str:
    noun = "point" if abs(points) == 1 else "points"
    return f"{points:+d} {noun}"


def _factor_reasons(factors: tuple[ScoreFactor, ...], *, helping: bool) -> list[Reason]:
    if helping:
        chosen = sorted((f for f in factors if f.points > 0), key=lambda f: -f.points)
        lead = "Helped your score"
    else:
        chosen = sorted((f for f in factors if f.points < 0), key=lambda f: f.points)
        lead = "Lowered your score"
    return [
        Reason(f.code, f"{lead}: {f.description} ({_points(f.points)}).")
        for f in chosen[:MAX_FACTOR_REASONS]
    ]


def _offline(rules: DepositRules, *, reachable: bool) -> DepositDecision:
    code = "score_unavailable" if reachable else "score_service_offline"
    cause = (
        "We could not get a score for this account"
        if reachable
        else "We could not reach the score service in time"
    )
    deposit = rules.deposit
    if rules.offline_rule == "decline":
        text = f"{cause}, so rides cannot start right now. Please try again in a few minutes."
        return DepositDecision("declined", None, (Reason(code, text),))
    if rules.offline_rule == "waive":
        text = f"{cause}, so the deposit is waived for this ride."
        return DepositDecision("waived", None, (Reason(code, text),))
    text = (
        f"{cause}, so a deposit of {deposit} is needed. "
        "It is returned when you end the ride."
    )
    return DepositDecision("required", deposit, (Reason(code, text),))


def decide_deposit(
    rules: DepositRules, score: ScoreReport | None, *, offline: bool
) -> DepositDecision:
    """Decide the deposit for one ride.

    Order: service offline (or no score) -> ``offline_rule``; a declining restriction ->
    declined; score below ``decline_below_score`` -> declined; score at or above
    ``waive_at_score`` -> waived; otherwise the deposit is required.
    """
    if offline or score is None:
        return _offline(rules, reachable=not offline)

    blocking = [r for r in score.restrictions if r.code in rules.decline_restrictions]
    if blocking:
        reasons: list[Reason] = []
        for restriction in blocking:
            if any(r.code == restriction.code for r in reasons):
                continue
            text = RESTRICTION_TEXTS.get(restriction.code) or (
                f"The score service reports a restriction on this account "
                f"({restriction.description.rstrip('.')}); rides are not available. "
                "You can contest this with the score service."
            )
            reasons.append(Reason(restriction.code, text))
        return DepositDecision("declined", None, tuple(reasons[:MAX_REASONS]))

    value = score.score
    if rules.decline_below_score and value < rules.decline_below_score:
        head = Reason(
            "score_below_minimum",
            f"Your score {value} is below {rules.decline_below_score}, the lowest score "
            "that can ride, so rides are not available.",
        )
        factors = _factor_reasons(score.factors, helping=False)
        return DepositDecision("declined", None, tuple([head, *factors][:MAX_REASONS]))

    if value >= rules.waive_at_score:
        head = Reason(
            "score_above_threshold",
            f"Your score {value} is at or above {rules.waive_at_score}, "
            "so no deposit is needed.",
        )
        factors = _factor_reasons(score.factors, helping=True)
        return DepositDecision("waived", None, tuple([head, *factors][:MAX_REASONS]))

    deposit = rules.deposit
    head = Reason(
        "score_below_threshold",
        f"Your score {value} is below {rules.waive_at_score}, so a deposit of {deposit} "
        "is needed. It is returned when you end the ride.",
    )
    factors = _factor_reasons(score.factors, helping=False)
    return DepositDecision("required", deposit, tuple([head, *factors][:MAX_REASONS]))
