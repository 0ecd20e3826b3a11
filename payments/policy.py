"""Deposit policy: from a score report to waive / require / decline, with plain-words reasons.

Pure functions only. The thresholds come from :class:`DepositRules`, which the terminal
configuration uses directly as its ``[deposit]`` section.

A decision has a **summary** (what was decided and the score against the threshold) and at
most four **reasons**, the way an adverse-action notice gives its key factors:

- a decision on the score: the scored factors that cost the most, in order, each with its
  points and the events behind it (for a waiver: the factors that helped the most). A score
  that no event has moved gives the one reason ``baseline_score``;
- a declining restriction: the restriction with its origin (e.g. a court list entry and its
  reference);
- no score (service offline or no record): that fact, the only reason there is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from payments.clients.models import (
    SCORE_BASELINE,
    SCORE_MAX,
    SCORE_MIN,
    Restriction,
    ScoreFactor,
    ScoreReport,
)
from payments.money import Money, MoneyError

Outcome = Literal["waived", "required", "declined"]
OfflineRule = Literal["require_deposit", "decline", "waive"]
MAX_REASONS = 4
# Reason codes that name no scored factor and no restriction: there was no score to explain
# (offline, no record) or nothing has moved it from the baseline.
NO_FACTOR_CODES: frozenset[str] = frozenset(
    {"score_service_offline", "score_unavailable", "baseline_score"})

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
    """One plain-words reason for a decision, with a stable machine code.

    A scored factor carries its ``points`` and the ``event_ids`` behind it; a restriction its
    ``origin`` in words.
    """

    code: str
    text: str
    points: int | None = None
    event_ids: tuple[str, ...] = ()
    origin: str | None = None

    def to_json(self) -> dict[str, object]:
        """``{"code", "text"}`` plus ``points``/``event_ids``/``origin`` when they apply."""
        out: dict[str, object] = {"code": self.code, "text": self.text}
        if self.points is not None:
            out["points"] = self.points
            out["event_ids"] = list(self.event_ids)
        if self.origin is not None:
            out["origin"] = self.origin
        return out


@dataclass(frozen=True)
class DepositDecision:
    """Whether a ride needs a deposit, how much, what was decided and why (1..4 reasons)."""

    outcome: Outcome
    deposit: Money | None
    reasons: tuple[Reason, ...]
    # The decision in one sentence (the score against the threshold, a restriction, offline).
    summary: Reason | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.reasons) <= MAX_REASONS:
            raise ValueError(f"a decision carries 1..{MAX_REASONS} reasons")
        if (self.outcome == "required") != (self.deposit is not None):
            raise ValueError("a deposit amount goes with outcome 'required' and only with it")

    @property
    def reason_codes(self) -> tuple[str, ...]:
        """The codes of the reasons, in order."""
        return tuple(r.code for r in self.reasons)

    @property
    def headline(self) -> Reason:
        """The summary, or the first reason when there is none."""
        return self.summary or self.reasons[0]


def _points(points: int) -> str:
    noun = "point" if abs(points) == 1 else "points"
    return f"{points:+d} {noun}"


def factor_reason(factor: ScoreFactor, lead: str) -> Reason:
    """One scored factor as a reason: its words, points and events."""
    words = (factor.description or factor.text).rstrip(".")
    return Reason(factor.code, f"{lead}: {words} ({_points(factor.points)}).",
                  points=factor.points, event_ids=factor.event_ids)


def _factor_reasons(report: ScoreReport, *, helping: bool) -> tuple[Reason, ...]:
    """The factors that helped (or cost) the most, at most four, in order.

    A decision against the person with no factor that cost anything names the factors that
    counted (they did not reach the threshold); a score nothing has moved names the baseline.
    """
    factors = report.factors
    if helping:
        chosen = sorted((f for f in factors if f.points > 0), key=lambda f: -f.points)
        lead = "Helped your score"
    else:
        chosen = sorted((f for f in factors if f.points < 0), key=lambda f: f.points)
        lead = "Lowered your score"
    if not chosen:
        chosen = sorted((f for f in factors if f.points != 0), key=lambda f: -abs(f.points))
        lead = "Counted in your score"
    if not chosen:
        baseline = report.baseline or SCORE_BASELINE
        return (Reason("baseline_score", f"Nothing recorded has moved your score from the "
                       f"starting score of {baseline} yet."),)
    return tuple(factor_reason(f, lead) for f in chosen[:MAX_REASONS])


def restriction_reason(restriction: Restriction) -> Reason:
    """A restriction as a reason, naming where it comes from."""
    text = RESTRICTION_TEXTS.get(restriction.code) or (
        f"The score service reports a restriction on this account "
        f"({restriction.description.rstrip('.')}); rides are not available. "
        "You can contest this with the score service."
    )
    origin = restriction.origin.describe() if restriction.origin is not None else None
    if origin:
        text = f"{text} Origin: {origin}."
    else:
        text = f"{text} Origin: {restriction.description.rstrip('.')}."
    return Reason(restriction.code, text, origin=origin or restriction.description)


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
        outcome: Outcome = "declined"
        amount = None
    elif rules.offline_rule == "waive":
        text = f"{cause}, so the deposit is waived for this ride."
        outcome, amount = "waived", None
    else:
        text = (f"{cause}, so a deposit of {deposit} is needed. "
                "It is returned when you end the ride.")
        outcome, amount = "required", deposit
    reason = Reason(code, text)
    return DepositDecision(outcome, amount, (reason,), summary=reason)


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
            reasons.append(restriction_reason(restriction))
        summary = Reason("restricted", "A restriction on this account declines the ride; "
                         "rides are not available.")
        return DepositDecision("declined", None, tuple(reasons[:MAX_REASONS]), summary)

    value = score.score
    if rules.decline_below_score and value < rules.decline_below_score:
        summary = Reason(
            "score_below_minimum",
            f"Your score {value} is below {rules.decline_below_score}, the lowest score "
            "that can ride, so rides are not available.",
        )
        return DepositDecision("declined", None, _factor_reasons(score, helping=False),
                               summary)

    if value >= rules.waive_at_score:
        summary = Reason(
            "score_above_threshold",
            f"Your score {value} is at or above {rules.waive_at_score}, "
            "so no deposit is needed.",
        )
        return DepositDecision("waived", None, _factor_reasons(score, helping=True), summary)

    deposit = rules.deposit
    summary = Reason(
        "score_below_threshold",
        f"Your score {value} is below {rules.waive_at_score}, so a deposit of {deposit} "
        "is needed. It is returned when you end the ride.",
    )
    return DepositDecision("required", deposit, _factor_reasons(score, helping=False), summary)
