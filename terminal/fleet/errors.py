"""Errors of the unit's fleet link."""

from __future__ import annotations

from terminal.errors import TerminalError


class FleetError(TerminalError):
    """The fleet link is misconfigured, cannot reach its broker, or cannot keep its state."""
