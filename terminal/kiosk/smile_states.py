"""States and events of one Smile-to-Pay attempt, and the transition table between them.

idle → face seen → quality ok → challenge (randomised liveness prompts) → embedding → digits
(as many as the risk rule asks) → verifying → verified → charged; or an end state: declined,
timed out, spoof suspected, failed (a service could not be reached).
"""

from __future__ import annotations

from enum import Enum

from terminal.statemachine import table_from


class SmileState(Enum):
    """Where a Smile-to-Pay attempt stands."""

    IDLE = "idle"
    FACE_SEEN = "face_seen"
    QUALITY_OK = "quality_ok"
    CHALLENGE = "challenge"
    EMBEDDING = "embedding"
    DIGITS = "digits"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    # End states: the kiosk shows the outcome, then resets to IDLE.
    CHARGED = "charged"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    SPOOF_SUSPECTED = "spoof_suspected"
    FAILED = "failed"


class SmileEvent(Enum):
    """What can happen during an attempt."""

    FACE_APPEARED = "face_appeared"
    FACE_LOST = "face_lost"
    QUALITY_PASSED = "quality_passed"
    CHALLENGE_STARTED = "challenge_started"
    CHALLENGE_PASSED = "challenge_passed"
    SPOOF_DETECTED = "spoof_detected"
    EMBEDDED = "embedded"
    DIGITS_NEEDED = "digits_needed"
    NO_DIGITS_NEEDED = "no_digits_needed"
    DIGITS_ENTERED = "digits_entered"
    MATCHED = "matched"
    MORE_DIGITS_NEEDED = "more_digits_needed"
    NOT_MATCHED = "not_matched"
    CHARGED = "charged"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    ERROR = "error"
    RESET = "reset"


S, E = SmileState, SmileEvent
END_STATES = (S.CHARGED, S.DECLINED, S.TIMED_OUT, S.SPOOF_SUSPECTED, S.FAILED)
_ACTIVE = (S.IDLE, S.FACE_SEEN, S.QUALITY_OK, S.CHALLENGE, S.EMBEDDING, S.DIGITS, S.VERIFYING,
           S.VERIFIED)

TRANSITIONS = table_from(
    [
        (S.IDLE, E.FACE_APPEARED, S.FACE_SEEN),
        (S.FACE_SEEN, E.FACE_LOST, S.IDLE),
        (S.FACE_SEEN, E.QUALITY_PASSED, S.QUALITY_OK),
        (S.QUALITY_OK, E.CHALLENGE_STARTED, S.CHALLENGE),
        (S.CHALLENGE, E.CHALLENGE_PASSED, S.EMBEDDING),
        ((S.CHALLENGE, S.EMBEDDING), E.SPOOF_DETECTED, S.SPOOF_SUSPECTED),
        (S.EMBEDDING, E.DIGITS_NEEDED, S.DIGITS),
        (S.EMBEDDING, E.NO_DIGITS_NEEDED, S.VERIFYING),
        (S.DIGITS, E.DIGITS_ENTERED, S.VERIFYING),
        (S.VERIFYING, E.MATCHED, S.VERIFIED),
        (S.VERIFYING, E.MORE_DIGITS_NEEDED, S.DIGITS),
        (S.VERIFYING, E.NOT_MATCHED, S.DECLINED),
        (S.VERIFIED, E.CHARGED, S.CHARGED),
        ((S.IDLE, S.FACE_SEEN, S.CHALLENGE, S.EMBEDDING, S.VERIFIED), E.DECLINED, S.DECLINED),
        ((S.IDLE, S.FACE_SEEN, S.CHALLENGE, S.DIGITS), E.TIMED_OUT, S.TIMED_OUT),
        (_ACTIVE, E.ERROR, S.FAILED),
        ((*END_STATES, *_ACTIVE), E.RESET, S.IDLE),
    ]
)
