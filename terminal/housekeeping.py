"""Keep a unit's state folder bounded: delivered events leave the outbox after a week."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from payments.outbox import Outbox, OutboxError

log = logging.getLogger(__name__)

# Delivered and dropped events are kept this long (for support questions), then deleted.
KEEP_SETTLED_S = 7 * 24 * 3600.0
PURGE_EVERY_S = 3600.0


class OutboxPurger:
    """Call it from the service loop: at most every ``every_s`` it deletes events settled
    more than ``keep_s`` ago. Pending events are never touched."""

    def __init__(self, outbox: Outbox, *, keep_s: float = KEEP_SETTLED_S,
                 every_s: float = PURGE_EVERY_S, wall_clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._outbox = outbox
        self._keep_s = keep_s
        self._every_s = every_s
        self._wall = wall_clock
        self._monotonic = monotonic
        self._last: float | None = None

    def __call__(self) -> int:
        """Purge if due; returns how many events were deleted (0 when not due)."""
        now = self._monotonic()
        if self._last is not None and now - self._last < self._every_s:
            return 0
        self._last = now
        try:
            deleted = self._outbox.purge(self._wall() - self._keep_s)
        except OutboxError as exc:
            log.warning("outbox purge failed: %s", exc)
            return 0
        if deleted:
            log.info("outbox: %d settled event(s) older than %.0f days deleted", deleted,
                     self._keep_s / 86400)
        return deleted
