"""Ride fares: an amount per started block of minutes, with an optional cap."""

from __future__ import annotations

import math
from dataclasses import dataclass

from payments.money import Money


@dataclass(frozen=True)
class FareRules:
    """Fare of ``amount_minor`` per started ``block_minutes``; ``cap_minor`` 0 means no cap."""

    amount_minor: int = 150
    currency: str = "CNY"
    block_minutes: int = 30
    cap_minor: int = 0
    # A ride shorter than this is free (a rider who changes their mind at once).
    grace_seconds: int = 0

    def __post_init__(self) -> None:
        if self.amount_minor < 0:
            raise ValueError("fare.amount_minor must be >= 0")
        if self.block_minutes <= 0:
            raise ValueError("fare.block_minutes must be > 0")
        if self.cap_minor < 0 or self.grace_seconds < 0:
            raise ValueError("fare.cap_minor and fare.grace_seconds must be >= 0")
        Money(self.amount_minor, self.currency)  # validates the currency code


@dataclass(frozen=True)
class Fare:
    """What a ride costs and why."""

    amount: Money
    blocks: int
    duration_s: float
    capped: bool

    def describe(self) -> str:
        """Plain words, e.g. '2 started blocks of 30 min: 3.00 CNY'."""
        if self.blocks == 0:
            return f"ride of {self.duration_s:.0f} s within the free grace period: {self.amount}"
        text = f"{self.blocks} started block(s): {self.amount}"
        return text + " (capped)" if self.capped else text


def fare_for(rules: FareRules, duration_s: float) -> Fare:
    """The fare of a ride that lasted ``duration_s`` seconds."""
    if not math.isfinite(duration_s) or duration_s < 0:
        raise ValueError(f"ride duration must be a finite number >= 0, got {duration_s!r}")
    if duration_s < rules.grace_seconds:
        return Fare(Money.zero(rules.currency), 0, duration_s, capped=False)
    blocks = max(1, math.ceil(duration_s / (rules.block_minutes * 60)))
    amount = rules.amount_minor * blocks
    capped = bool(rules.cap_minor) and amount > rules.cap_minor
    if capped:
        amount = rules.cap_minor
    return Fare(Money(amount, rules.currency), blocks, duration_s, capped)
