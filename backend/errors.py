"""Errors of the back end: API errors become the JSON error body of docs/api.md.

``BackendError`` is the root of the package's one error tree.
"""

from __future__ import annotations


class BackendError(Exception):
    """The back end could not start, stop or open its database, or a call failed."""


class ApiError(BackendError):
    """An API call failed; becomes ``{"error": {"code", "message", "request_id"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({self.status} {self.code})"
