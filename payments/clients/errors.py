"""Errors of the back-end clients, and the one place HTTP statuses become errors."""

from __future__ import annotations

from typing import Any

from payments.errors import PaymentsError

# Error codes of `POST /v1/payment-codes/resolve` that mean "this code cannot be used".
CODE_REJECTION_CODES: frozenset[str] = frozenset(
    {"code_malformed", "code_signature_invalid", "code_expired", "code_already_used"}
)


class BadArgument(PaymentsError, ValueError):
    """A client call was given a malformed argument; nothing was sent."""


class ApiError(PaymentsError):
    """A back-end call failed; carries the HTTP status, error code and request id."""

    def __init__(
        self,
        http_status: int | None,
        code: str,
        message: str,
        request_id: str | None = None,
    ) -> None:
        self.http_status = http_status
        self.code = code
        self.message = message
        self.request_id = request_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [self.code]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return f"{self.message} ({', '.join(parts)})"


class InvalidRequestError(ApiError):
    """The back end refused the request as malformed (a 4xx without a more specific class)."""


class AuthenticationError(ApiError):
    """The terminal's API key is missing or unknown (HTTP 401)."""


class PaymentDeclined(ApiError):
    """The payment or hold was declined (HTTP 402): insufficient funds, account closed."""


class NotFoundError(ApiError):
    """The subject, hold or charge does not exist (HTTP 404)."""


class ConflictError(ApiError):
    """The request conflicts with the current state (HTTP 409), e.g. a hold no longer active."""


class CodeRejected(ApiError):
    """A scanned payment code was refused: malformed, bad signature, expired or already used."""


class ProtocolError(ApiError):
    """The back end answered with a response that breaks the API contract."""


class ServiceUnavailable(ApiError):
    """The service could not be reached in time (network, timeout, 429 or 5xx after retries)."""

    def __init__(
        self,
        http_status: int | None,
        code: str,
        message: str,
        request_id: str | None = None,
        *,
        cause: BaseException | None = None,
        attempts: int = 1,
    ) -> None:
        self.cause = cause
        self.attempts = attempts
        super().__init__(http_status, code, message, request_id)


def error_from_response(
    http_status: int, body: Any, request_id: str | None, service: str
) -> ApiError:
    """Map one non-2xx response to its error; the only place statuses become error classes."""
    code, message = f"http_{http_status}", f"{service} answered HTTP {http_status}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        if isinstance(error.get("code"), str) and error["code"]:
            code = error["code"]
        if isinstance(error.get("message"), str) and error["message"]:
            message = error["message"]
        if request_id is None and isinstance(error.get("request_id"), str):
            request_id = error["request_id"]
    cls: type[ApiError]
    if code in CODE_REJECTION_CODES:
        cls = CodeRejected
    elif http_status == 401 or http_status == 403:
        cls = AuthenticationError
    elif http_status == 402:
        cls = PaymentDeclined
    elif http_status == 404:
        cls = NotFoundError
    elif http_status == 409:
        cls = ConflictError
    elif http_status == 429 or http_status >= 500:
        cls = ServiceUnavailable
    else:
        cls = InvalidRequestError
    return cls(http_status, code, message, request_id)


def is_retryable_status(http_status: int) -> bool:
    """Whether a response status is worth retrying for an idempotent call."""
    return http_status == 429 or http_status >= 500
