"""Strict readers of response fields: a contract breach becomes a ProtocolError, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from payments.clients.errors import ProtocolError
from payments.money import Money, MoneyError


class Fields:
    """Typed access to one JSON object of a response, naming the field when it is wrong."""

    def __init__(self, body: Any, *, what: str, request_id: str | None = None) -> None:
        if not isinstance(body, dict):
            raise self._error_for(what, request_id, "is not a JSON object")
        self._body = body
        self._what = what
        self._request_id = request_id

    @staticmethod
    def _error_for(what: str, request_id: str | None, problem: str) -> ProtocolError:
        return ProtocolError(None, "bad_response", f"{what} {problem}", request_id)

    def error(self, field: str, problem: str) -> ProtocolError:
        """A ProtocolError saying ``field`` of this object has ``problem``."""
        return self._error_for(f"{self._what}: field {field!r}", self._request_id, problem)

    def text(self, field: str, *, optional: bool = False) -> Any:
        """A non-empty string field (None when optional and absent)."""
        value = self._body.get(field)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(field, "must be a non-empty string")
        return value

    def integer(self, field: str) -> int:
        """An integer field (booleans refused)."""
        value = self._body.get(field)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(field, "must be an integer")
        return value

    def time(self, field: str, *, optional: bool = False) -> datetime | None:
        """An RFC 3339 time field, returned as an aware UTC datetime."""
        value = self._body.get(field)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.error(field, "must be an RFC 3339 time string")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.error(field, f"is not an RFC 3339 time: {value[:40]!r}") from None
        if parsed.tzinfo is None:
            raise self.error(field, "must carry a time zone")
        return parsed.astimezone(UTC)

    def money(self, field: str, *, optional: bool = False) -> Money | None:
        """A Money field ``{"amount_minor", "currency"}``."""
        value = self._body.get(field)
        if value is None and optional:
            return None
        try:
            return Money.from_json(value)
        except MoneyError as exc:
            raise self.error(field, str(exc)) from None

    def items(self, field: str, *, optional: bool = False) -> list[Any]:
        """A list field (empty when optional and absent)."""
        value = self._body.get(field)
        if value is None and optional:
            return []
        if not isinstance(value, list):
            raise self.error(field, "must be a list")
        return value

    def raw(self, field: str) -> Any:
        """The field as it came, or None."""
        return self._body.get(field)
