"""A thread-safe list of no-argument callbacks, shared by the lock backends."""

from __future__ import annotations

import logging
import threading

from hardware.ports import Callback, Unsubscribe

logger = logging.getLogger(__name__)


class CallbackList:
    """Callbacks registered for one event; a failing callback is logged, the rest still run."""

    def __init__(self, event: str) -> None:
        self._event = event
        self._callbacks: list[Callback] = []
        self._lock = threading.Lock()

    def add(self, callback: Callback) -> Unsubscribe:
        """Register ``callback``; returns a function that unregisters it (safe to call twice)."""
        if not callable(callback):
            raise TypeError(f"{self._event} callback must be callable, got {callback!r}")
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def clear(self) -> None:
        """Drop every callback."""
        with self._lock:
            self._callbacks.clear()

    def fire(self) -> None:
        """Call every registered callback in registration order."""
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("%s callback %r failed", self._event, callback)
