"""The rental model: everything a bike-lock unit must remember about one ride.

It is persisted after every step (see :mod:`terminal.bikelock.journal`), so a unit that loses
power mid-ride resumes with the same ride id and the same idempotency keys — a retried hold,
charge or release can never happen twice. A money call whose answer never arrived is listed in
``unresolved`` until it is looked up by replaying it with the same key.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from terminal.bikelock.states import END_STATES, RideState


@dataclass
class Rental:
    """One ride, from the scanned code to the settled fare."""

    ride_id: str
    state: RideState = RideState.IDLE
    started_at: float = 0.0  # Unix seconds when the code was scanned
    code_id: str | None = None
    subject_id: str | None = None
    score: int | None = None
    score_offline: bool = False
    outcome: str | None = None  # waived | required | declined (deposit decision)
    deposit_minor: int = 0
    currency: str = "CNY"
    # {"code", "text", "points"?, "event_ids"?, "origin"?} (payments.policy.Reason.to_json)
    reasons: list[dict[str, Any]] = field(default_factory=list)
    hold_id: str | None = None
    # Set (and journalled) before the latch is pulsed: a restart finding it with the latch open
    # knows the bike was released.
    unlock_requested_at: float | None = None
    unlocked_at: float | None = None
    closed_at: float | None = None
    fare_minor: int | None = None
    fare_paid_by: str | None = None  # charge | deposit | unpaid
    charge_id: str | None = None
    # Idempotency keys, created once per money movement and persisted before the first send.
    keys: dict[str, str] = field(default_factory=dict)
    # Purposes (keys of ``keys``) of money calls sent whose answer did not arrive.
    unresolved: list[str] = field(default_factory=list)
    failure: str | None = None
    # The deposit decision in one sentence (its code and text), beside its reasons.
    summary: dict[str, Any] | None = None

    @property
    def money_open(self) -> bool:
        """An ended rental that may still hold the rider's money (a hold to find or release)."""
        return self.state in END_STATES and (
            self.hold_id is not None or "hold" in self.unresolved
        )

    def to_json(self) -> str:
        """The journal form."""
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Rental:
        """Read the journal form back."""
        data: dict[str, Any] = json.loads(text)
        data["state"] = RideState(data["state"])
        return cls(**data)
