"""The reference scoring rule (docs/scoring.md): base points plus capped points per event type.

An honest, explainable reference — not an imitation of any real credit model. Being
unrecognised by a camera (failed liveness, no face match, unreadable code) never costs points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

BASE_SCORE = 600
MIN_SCORE = 350
MAX_SCORE = 950
SCORE_RANGE = (MIN_SCORE, MAX_SCORE)


def _always(_: Mapping[str, Any]) -> bool:
    return True


def _on_time(attributes: Mapping[str, Any]) -> bool:
    return attributes.get("on_time") is not False


def _late(attributes: Mapping[str, Any]) -> bool:
    return attributes.get("on_time") is False


def _kept_for_damage_or_loss(attributes: Mapping[str, Any]) -> bool:
    # A deposit captured to pay a declined fare is already counted by payment.declined.
    return attributes.get("reason") != "fare_declined"


def _misparked(attributes: Mapping[str, Any]) -> bool:
    return attributes.get("misparked") is True


@dataclass(frozen=True)
class Rule:
    """Points for each matching event, capped in total."""

    factor: str
    event_type: str
    points_each: int
    cap: int
    # Description with {n} for the number of events (the plural: 0, 2, 3 ... events).
    description: str
    # Which events of ``event_type`` count, judged by their attributes.
    applies: Callable[[Mapping[str, Any]], bool] = _always
    # The description for exactly one event ({n} is 1); empty: ``description`` serves.
    description_one: str = ""

    def matches(self, event_type: str, attributes: Mapping[str, Any]) -> bool:
        """Whether an event of ``event_type`` with ``attributes`` counts for this rule."""
        return event_type == self.event_type and self.applies(attributes)

    def describe(self, n: int) -> str:
        """The description for ``n`` events, singular for exactly one."""
        template = self.description_one if n == 1 and self.description_one \
            else self.description
        return template.format(n=n)


RULES: tuple[Rule, ...] = (
    Rule("on_time_returns", "ride.ended", +5, +200, "Returned {n} bikes on time", _on_time,
         "Returned {n} bike on time"),
    Rule("late_returns", "ride.ended", -5, -100, "Returned {n} bikes late", _late,
         "Returned {n} bike late"),
    Rule("payment_declines", "payment.declined", -15, -150, "{n} payments declined",
         description_one="{n} payment declined"),
    Rule("deposits_captured", "deposit.captured", -40, -200,
         "{n} deposits kept for damage or loss", _kept_for_damage_or_loss,
         "{n} deposit kept for damage or loss"),
    Rule("parking_violations", "parking.reported", -10, -100, "{n} parking violations",
         _misparked, "{n} parking violation"),
)

# Event types that are recorded but never move the score. Being unrecognised by a camera or
# having a code refused is never held against anyone.
NEUTRAL_TYPES: frozenset[str] = frozenset({
    "ride.started", "deposit.held", "deposit.released", "deposit.waived", "deposit.declined",
    "payment.captured", "payment.refunded", "unlock.failed", "code.rejected", "liveness.failed",
    "face.verified", "face.rejected", "face.enrolled", "face.deleted", "order.paid",
    "order.cancelled", "terminal.started",
})


@dataclass(frozen=True)
class Factor:
    """One line of the score explanation (a line of the points scorecard)."""

    code: str
    description: str
    points: int
    # Plain words for a person: what happened, what it did to the score, and the cap.
    text: str = ""
    # The events that counted, in time order (empty when the caller did not list them).
    event_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Wire form ``{"code", "description", "text", "points", "event_ids"}``."""
        return {"code": self.code, "description": self.description,
                "text": self.text or self.description, "points": self.points,
                "event_ids": list(self.event_ids)}


RULES_BY_FACTOR: dict[str, Rule] = {rule.factor: rule for rule in RULES}


def counted_limit(rule: Rule) -> int:
    """How many events of ``rule`` can count before its cap is reached (the rest score 0)."""
    return -(-abs(rule.cap) // abs(rule.points_each))


def event_points(rule: Rule, n: int) -> list[int]:
    """Points of each of the first ``n`` counting events of ``rule`` in time order; the
    events past the cap get 0, so the list sums to the factor's capped points."""
    points: list[int] = []
    left = rule.cap
    for _ in range(n):
        step = max(rule.points_each, left) if rule.cap < 0 else min(rule.points_each, left)
        points.append(step)
        left -= step
    return points


def capped_points(rule: Rule, n: int) -> int:
    """The factor's points for ``n`` counting events (its cap applied)."""
    raw = n * rule.points_each
    return min(raw, rule.cap) if rule.cap >= 0 else max(raw, rule.cap)


def points_words(points: int) -> str:
    """``points`` as a number of points in words: "1 point", "5 points"."""
    return f"{points} point" if abs(points) == 1 else f"{points} points"


def factor_text(rule: Rule, n: int) -> str:
    """Plain words for a factor: what happened and what it did to the score."""
    points = capped_points(rule, n)
    verb = "added" if points > 0 else "cost"
    text = f"{rule.describe(n)}: {verb} {points_words(abs(points))}"
    if n > counted_limit(rule):
        text += (f" (at most {abs(rule.cap)} points count for this; the events after the "
                 f"first {counted_limit(rule)} are not counted)")
    return text


def clamp(total: int) -> int:
    """A raw score clamped to the published range."""
    return max(MIN_SCORE, min(MAX_SCORE, total))


def factors_of(event_type: str, attributes: Mapping[str, Any]) -> tuple[str, ...]:
    """The factors one event of ``event_type`` with ``attributes`` counts towards."""
    return tuple(rule.factor for rule in RULES if rule.matches(event_type, attributes))


def score_from_counts(counts: Mapping[str, int]) -> tuple[int, list[Factor]]:
    """Score and factors from how many events count towards each factor."""
    factors: list[Factor] = []
    total = BASE_SCORE
    for rule in RULES:
        n = counts.get(rule.factor, 0)
        if n == 0:
            continue
        points = capped_points(rule, n)
        total += points
        factors.append(Factor(rule.factor, rule.describe(n), points,
                              factor_text(rule, n)))
    factors.sort(key=lambda f: -abs(f.points))
    return clamp(total), factors


def score_events(events: Iterable[tuple[str, Mapping[str, Any]]]) -> tuple[int, list[Factor]]:
    """Score a subject's ``(type, attributes)`` events from scratch; returns the score and
    its factors."""
    counts = dict.fromkeys((r.factor for r in RULES), 0)
    for event_type, attributes in events:
        for factor in factors_of(event_type, attributes):
            counts[factor] += 1
    return score_from_counts(counts)
