"""What the back-end clients return: small frozen records, already validated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from payments.money import Money

SCORE_MIN = 350
SCORE_MAX = 950
# The score of a subject nothing has moved yet (the scorecard's baseline).
SCORE_BASELINE = 600


@dataclass(frozen=True)
class ScoreFactor:
    """One reason behind a score, e.g. ``on_time_returns`` worth +24 points."""

    code: str
    description: str
    points: int
    # The events that counted towards it, in time order (empty from an older back end).
    event_ids: tuple[str, ...] = ()
    # Plain words for the person (the description when the back end sends none).
    text: str = ""

    @property
    def words(self) -> str:
        """The plain-words line: ``text``, or the description."""
        return self.text or self.description


@dataclass(frozen=True)
class RestrictionOrigin:
    """Where a restriction comes from, e.g. a court list entry and its reference."""

    source: str
    reference: str
    listed_at: datetime | None = None

    def describe(self) -> str:
        """``"court list, reference (2026) Hu 0101 Zhi 1234, listed 2026-03-02"``."""
        listed = f", listed {self.listed_at.date().isoformat()}" if self.listed_at else ""
        return f"{self.source}, reference {self.reference}{listed}"


@dataclass(frozen=True)
class Restriction:
    """A restriction the score service reports on an account, e.g. ``court_blacklist``."""

    code: str
    description: str
    id: str | None = None
    origin: RestrictionOrigin | None = None


@dataclass(frozen=True)
class ScoreReport:
    """A subject's credit score (350..950) with its factors and restrictions."""

    subject_id: str
    score: int
    as_of: datetime
    factors: tuple[ScoreFactor, ...] = ()
    restrictions: tuple[Restriction, ...] = ()
    baseline: int = SCORE_BASELINE

    def __post_init__(self) -> None:
        if isinstance(self.score, bool) or not isinstance(self.score, int):
            raise ValueError(f"score must be an integer, got {self.score!r}")
        if not SCORE_MIN <= self.score <= SCORE_MAX:
            raise ValueError(f"score must be in {SCORE_MIN}..{SCORE_MAX}, got {self.score}")

    def restriction_codes(self) -> frozenset[str]:
        """Codes of all restrictions on the account."""
        return frozenset(r.code for r in self.restrictions)


@dataclass(frozen=True)
class RejectedEvent:
    """An event the score service refused as malformed; it will never be accepted."""

    id: str
    error: str


@dataclass(frozen=True)
class BatchResult:
    """Outcome of one event batch upload."""

    accepted: int
    duplicates: int
    rejected: tuple[RejectedEvent, ...] = ()

    def rejected_ids(self) -> frozenset[str]:
        """Ids of the rejected events."""
        return frozenset(r.id for r in self.rejected)


@dataclass(frozen=True)
class ResolvedCode:
    """A payment code the gateway accepted (and marked used): whose it is."""

    subject_id: str
    code_id: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Hold:
    """A deposit hold and its state: ``held``, ``released`` or ``captured``."""

    hold_id: str
    status: str
    amount: Money | None = None
    charge_id: str | None = None


@dataclass(frozen=True)
class Charge:
    """A captured payment."""

    charge_id: str
    status: str
    amount: Money


@dataclass(frozen=True)
class Refund:
    """Money returned against a charge."""

    refund_id: str
    charge_id: str
    status: str
    amount: Money
