"""How the console's views call a back-end service: the service module loaded when the page
needs it, and its refusals turned into one problem type per view.

A view (:mod:`.fleet_view`, :mod:`.disputes_view`) subclasses :class:`ServiceProblem` with its
default code, loads its service with :func:`load_service` and raises ``Problem.of(exc)`` for a
service's :class:`~backend.errors.ApiError`; the routes show any of them with
:func:`backend.console.web.service_refused`.
"""

from __future__ import annotations

import importlib
from typing import Any, Self

from backend.errors import ApiError, BackendError


class ServiceProblem(BackendError):
    """A service refused or is unavailable; ``status`` is the HTTP status to show, ``code`` the
    service's error code (its words are ``service.<code>`` in texts.toml; a subclass's
    :attr:`default_code` when none is given)."""

    default_code = "service_error"

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code if code is not None else self.default_code

    @classmethod
    def of(cls, exc: ApiError) -> Self:
        """The service's refusal ``exc`` as this problem (its status, message and code)."""
        return cls(exc.status, exc.message, exc.code)


def load_service(module: str, missing: ServiceProblem) -> Any:
    """The service ``module``; raises ``missing`` when this back end is built without it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing from None
