"""HTTP clients of the score service and the payment gateway (see docs/api.md).

Names are imported lazily, so ``payments.clients.models`` (used by the deposit policy and the
configuration) loads without pulling in ``requests``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "ApiError": "errors",
    "AuthenticationError": "errors",
    "BadArgument": "errors",
    "CodeRejected": "errors",
    "ConflictError": "errors",
    "InvalidRequestError": "errors",
    "NotFoundError": "errors",
    "PaymentDeclined": "errors",
    "ProtocolError": "errors",
    "ServiceUnavailable": "errors",
    "GatewayClient": "gateway",
    "new_idempotency_key": "gateway",
    "ServiceSettings": "http",
    "BatchResult": "models",
    "Charge": "models",
    "Hold": "models",
    "Refund": "models",
    "RejectedEvent": "models",
    "ResolvedCode": "models",
    "Restriction": "models",
    "ScoreFactor": "models",
    "ScoreReport": "models",
    "RetryPolicy": "retry",
    "ScoreClient": "score",
}

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadArgument",
    "BatchResult",
    "Charge",
    "CodeRejected",
    "ConflictError",
    "GatewayClient",
    "Hold",
    "InvalidRequestError",
    "NotFoundError",
    "PaymentDeclined",
    "ProtocolError",
    "Refund",
    "RejectedEvent",
    "ResolvedCode",
    "Restriction",
    "RetryPolicy",
    "ScoreClient",
    "ScoreFactor",
    "ScoreReport",
    "ServiceSettings",
    "ServiceUnavailable",
    "new_idempotency_key",
]

if TYPE_CHECKING:
    from payments.clients.errors import (
        ApiError,
        AuthenticationError,
        BadArgument,
        CodeRejected,
        ConflictError,
        InvalidRequestError,
        NotFoundError,
        PaymentDeclined,
        ProtocolError,
        ServiceUnavailable,
    )
    from payments.clients.gateway import GatewayClient, new_idempotency_key
    from payments.clients.http import ServiceSettings
    from payments.clients.models import (
        BatchResult,
        Charge,
        Hold,
        Refund,
        RejectedEvent,
        ResolvedCode,
        Restriction,
        ScoreFactor,
        ScoreReport,
    )
    from payments.clients.retry import RetryPolicy
    from payments.clients.score import ScoreClient


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"payments.clients.{module}"), name)
