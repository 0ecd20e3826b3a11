"""Errors of the reference back end: API errors become the JSON error body of docs/api.md."""

from __future__ import annotations

from terminal.errors import TerminalError


class BackendError(TerminalError):
    """The reference back end could not start, stop or open its database."""


class ApiError(TerminalError):
    """An API call failed; becomes ``{"error": {"code", "message", "request_id"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({self.status} {self.code})"
