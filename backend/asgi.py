"""An app factory for ``uvicorn --factory`` (several worker processes over one SQLite file).

``uvicorn backend.asgi:dev_app_from_env --factory --workers 2`` serves a dev
back end whose database is ``SCANPAY_BACKEND_DB`` and whose development keys go to the terminal
ids in ``SCANPAY_BACKEND_TERMINALS`` (comma-separated; the defaults when unset). Each worker
opens the same file (WAL): writes are serialised by SQLite, reads run in parallel. Nonce
memory and face throttles stay per process (docs/security.md). Development mode only: bind
loopback.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from backend.errors import BackendError

DB_ENV = "SCANPAY_BACKEND_DB"
TERMINALS_ENV = "SCANPAY_BACKEND_TERMINALS"


def dev_app_from_env() -> FastAPI:
    """A dev-mode app on the SQLite file named by ``SCANPAY_BACKEND_DB`` (required), keys for
    the terminals of ``SCANPAY_BACKEND_TERMINALS``."""
    from backend.app import create_app
    from backend.settings import BackendSettings

    path = os.environ.get(DB_ENV, "")
    if not path:
        raise BackendError(f"set {DB_ENV} to the back end's SQLite file (workers share it)")
    terminals = tuple(t for t in os.environ.get(TERMINALS_ENV, "").split(",") if t)
    if terminals:
        return create_app(BackendSettings(database=path, terminals=terminals))
    return create_app(BackendSettings(database=path))
