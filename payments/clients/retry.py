"""The retry rule of the back-end clients: exponential backoff with full jitter."""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

# Longest Retry-After the client will honour; a longer one is treated as "give up now".
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait between attempts of an idempotent call."""

    # Retries after the first attempt (0 = try once).
    max_retries: int = 2
    backoff_base_s: float = 0.2
    backoff_max_s: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise ValueError("max_retries must be an integer")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if not (self.backoff_base_s >= 0 and math.isfinite(self.backoff_base_s)):
            raise ValueError("backoff_base_s must be a finite number >= 0")
        if not (self.backoff_max_s >= self.backoff_base_s and math.isfinite(self.backoff_max_s)):
            raise ValueError("backoff_max_s must be finite and >= backoff_base_s")

    def can_retry(self, retries_done: int) -> bool:
        """Whether another retry is allowed after ``retries_done`` retries."""
        return retries_done < self.max_retries

    def delay(
        self, attempt: int, rng: random.Random, retry_after: float | None = None
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (1 = first retry).

        Full jitter: uniform in ``[0, min(backoff_max_s, backoff_base_s * 2**(attempt-1))]``.
        A server's ``Retry-After`` is a floor: the wait is never shorter than it asks.
        """
        if attempt < 1:
            raise ValueError("attempt counts retries from 1")
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** min(attempt - 1, 60))
        wait = rng.uniform(0.0, ceiling)
        if retry_after is not None and retry_after > wait:
            wait = retry_after
        return wait


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(min(int(text), 10**6))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())
