"""States and events of a bike rental, and the transition table between them."""

from __future__ import annotations

from enum import Enum

from terminal.statemachine import table_from


class RideState(Enum):
    """Where a rental stands."""

    IDLE = "idle"
    CODE_SEEN = "code_seen"
    PAYER_RESOLVED = "payer_resolved"
    SCORE_CHECKED = "score_checked"
    DEPOSIT_DECIDED = "deposit_decided"
    HOLD_PLACED = "hold_placed"
    UNLOCKING = "unlocking"  # journalled before the latch is pulsed
    UNLOCKED = "unlocked"
    RIDING = "riding"
    LOCK_CLOSED = "lock_closed"
    SETTLED = "settled"
    # End states: the unit shows the outcome, then resets to IDLE.
    REJECTED = "rejected"
    DECLINED = "declined"
    ABANDONED = "abandoned"
    FAILED = "failed"


class RideEvent(Enum):
    """What can happen to a rental."""

    CODE_SCANNED = "code_scanned"
    CODE_ACCEPTED = "code_accepted"
    CODE_REJECTED = "code_rejected"
    SCORE_RECEIVED = "score_received"
    SCORE_UNAVAILABLE = "score_unavailable"
    DEPOSIT_WAIVED = "deposit_waived"
    DEPOSIT_REQUIRED = "deposit_required"
    RIDE_DECLINED = "ride_declined"
    HOLD_PLACED = "hold_placed"
    HOLD_DECLINED = "hold_declined"
    UNLOCK_REQUESTED = "unlock_requested"
    UNLOCKED = "unlocked"
    UNLOCK_FAILED = "unlock_failed"
    BIKE_TAKEN = "bike_taken"
    NOT_TAKEN = "not_taken"
    LOCK_CLOSED = "lock_closed"
    SETTLED = "settled"
    ERROR = "error"
    RESET = "reset"


S, E = RideState, RideEvent
END_STATES = (S.SETTLED, S.REJECTED, S.DECLINED, S.ABANDONED, S.FAILED)
# States in which money may be held or a bike is out: an error here must still settle.
BUSY_STATES = (S.HOLD_PLACED, S.UNLOCKING, S.UNLOCKED, S.RIDING, S.LOCK_CLOSED)

TRANSITIONS = table_from(
    [
        (S.IDLE, E.CODE_SCANNED, S.CODE_SEEN),
        (S.CODE_SEEN, E.CODE_ACCEPTED, S.PAYER_RESOLVED),
        (S.CODE_SEEN, E.CODE_REJECTED, S.REJECTED),
        (S.PAYER_RESOLVED, E.SCORE_RECEIVED, S.SCORE_CHECKED),
        (S.PAYER_RESOLVED, E.SCORE_UNAVAILABLE, S.SCORE_CHECKED),
        (S.SCORE_CHECKED, E.DEPOSIT_WAIVED, S.DEPOSIT_DECIDED),
        (S.SCORE_CHECKED, E.DEPOSIT_REQUIRED, S.DEPOSIT_DECIDED),
        (S.SCORE_CHECKED, E.RIDE_DECLINED, S.DECLINED),
        (S.DEPOSIT_DECIDED, E.HOLD_PLACED, S.HOLD_PLACED),
        (S.DEPOSIT_DECIDED, E.HOLD_DECLINED, S.DECLINED),
        ((S.DEPOSIT_DECIDED, S.HOLD_PLACED), E.UNLOCK_REQUESTED, S.UNLOCKING),
        (S.UNLOCKING, E.UNLOCKED, S.UNLOCKED),
        (S.UNLOCKING, E.UNLOCK_FAILED, S.FAILED),
        (S.UNLOCKED, E.BIKE_TAKEN, S.RIDING),
        (S.UNLOCKED, E.NOT_TAKEN, S.ABANDONED),
        (S.RIDING, E.LOCK_CLOSED, S.LOCK_CLOSED),
        (S.LOCK_CLOSED, E.SETTLED, S.SETTLED),
        (
            (S.CODE_SEEN, S.PAYER_RESOLVED, S.SCORE_CHECKED, S.DEPOSIT_DECIDED, S.HOLD_PLACED,
             S.UNLOCKING),
            E.ERROR,
            S.FAILED,
        ),
        (END_STATES, E.RESET, S.IDLE),
    ]
)
