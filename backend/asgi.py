"""An app factory for ``uvicorn --factory`` (several worker processes over one store).

``uvicorn backend.asgi:dev_app_from_env --factory --workers 2`` serves a dev
back end whose store is ``SCANPAY_BACKEND_DB`` (a SQLite file or a ``postgresql://`` URL) and
whose development keys go to the terminal ids in ``SCANPAY_BACKEND_TERMINALS`` (comma-separated;
the defaults when unset). Each worker opens the same store; request nonces are kept in it, so
the workers refuse each other's replays. ``scanpay backend serve --workers N`` does the same
without uvicorn's supervisor (and spreads connections evenly). Development mode only: bind
loopback.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from backend.errors import BackendError

DB_ENV = "SCANPAY_BACKEND_DB"
TERMINALS_ENV = "SCANPAY_BACKEND_TERMINALS"


def dev_app_from_env() -> FastAPI:
    """A dev-mode app on the store named by ``SCANPAY_BACKEND_DB`` (required), keys for
    the terminals of ``SCANPAY_BACKEND_TERMINALS``."""
    from backend.app import create_app
    from backend.settings import BackendSettings

    path = os.environ.get(DB_ENV, "")
    if not path:
        raise BackendError(f"set {DB_ENV} to the back end's store: a SQLite file or a "
                           "postgresql:// URL (workers share it)")
    terminals = tuple(t for t in os.environ.get(TERMINALS_ENV, "").split(",") if t)
    if terminals:
        return create_app(BackendSettings(database=path, terminals=terminals,
                                          shared_nonces=True))
    return create_app(BackendSettings(database=path, shared_nonces=True))
