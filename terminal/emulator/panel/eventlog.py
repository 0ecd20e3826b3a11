"""The dev panel's event log: what the device emitted, newest first, bounded."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from payments.events import EVENT_TYPES, Event, format_time

Source = Literal["event", "screen", "panel"]


@dataclass(frozen=True)
class LogEntry:
    """One line of the log: an event sent to the back end, what the device told its user, or
    what was done from the panel."""

    seq: int
    source: Source
    kind: str
    time: str  # RFC 3339 UTC
    text: str
    reasons: tuple[str, ...]  # reason codes

    @property
    def clock(self) -> str:
        """The time of day (UTC), HH:MM:SS."""
        return self.time[11:19]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"seq": self.seq, "source": self.source, "kind": self.kind, "time": self.time,
                "text": self.text, "reasons": list(self.reasons)}


class EventLog:
    """Thread-safe, newest first, keeps the last ``capacity`` entries; tells ``on_change``."""

    def __init__(self, capacity: int = 200, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._seq = 0
        self._clock = clock
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every new entry."""
        self._listeners.append(callback)

    def add_event(self, event: Event) -> LogEntry:
        """Log a terminal event (the kind is its type; the reason attribute is its reason)."""
        attrs = dict(event.attributes)
        reason = attrs.get("reason")
        codes = attrs.get("reason_codes")  # a decision's reasons, comma-separated
        reasons = tuple(c for c in codes.split(",") if c) if isinstance(codes, str) else ()
        if isinstance(reason, str):
            reasons = (reason, *reasons)
        return self._add("event", event.type, format_time(event.time),
                         _event_text(event.type, attrs), reasons)

    def add_screen(self, kind: str, text: str, data: Mapping[str, Any]) -> LogEntry:
        """Log what the device told its user (a state and a line of text, maybe reasons)."""
        return self._add("screen", kind, format_time(self._clock()), text, reason_codes(data))

    def add_panel(self, kind: str, text: str) -> LogEntry:
        """Log something done from the panel (outside the device), e.g. a face enrolled."""
        return self._add("panel", kind, format_time(self._clock()), text, ())

    def entries(self) -> list[LogEntry]:
        """Every kept entry, newest first."""
        with self._lock:
            return list(reversed(self._entries))

    def _add(self, source: Source, kind: str, when: str, text: str,
             reasons: tuple[str, ...]) -> LogEntry:
        with self._lock:
            self._seq += 1
            entry = LogEntry(self._seq, source, kind, when, text, reasons)
            self._entries.append(entry)
        for listener in list(self._listeners):
            listener()
        return entry


def reason_codes(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The reason codes in a notice's data: ``reasons`` [{code, text}] or one ``reason``."""
    codes = [str(r["code"]) for r in data.get("reasons", ()) if isinstance(r, Mapping)
             and "code" in r]
    if not codes and isinstance(data.get("reason"), str):
        codes = [data["reason"]]
    return tuple(codes)


def _event_text(kind: str, attrs: Mapping[str, Any]) -> str:
    text = EVENT_TYPES.get(kind, kind)
    amount, currency = attrs.get("amount_minor"), attrs.get("currency")
    if isinstance(amount, int) and isinstance(currency, str):
        text += f" {amount // 100}.{amount % 100:02d} {currency}"
    return text
