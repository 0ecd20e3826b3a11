"""Warnings and errors logged anywhere in the unit, counted by component for the metrics."""

from __future__ import annotations

import logging

from terminal.metrics.unit import UnitMetrics


def component_of(logger_name: str) -> str:
    """The first two parts of a logger's name: ``payments.uploader``, ``hardware.gpio``."""
    return ".".join(logger_name.split(".")[:2]) or "root"


class ErrorCountingHandler(logging.Handler):
    """Counts every record at WARNING or above into ``scanpay_errors{kind, level}``."""

    def __init__(self, metrics: UnitMetrics) -> None:
        super().__init__(level=logging.WARNING)
        self._metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        """Count ``record`` (never raises)."""
        try:
            self._metrics.error(component_of(record.name), record.levelname.lower())
        except Exception:  # a metrics problem must never break logging
            self.handleError(record)
