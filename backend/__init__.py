"""The reference back end: score service + payment gateway of docs/api.md (FastAPI, SQLite).

``create_app(settings)`` builds the ASGI app (see :mod:`.app` for adding routers);
``BackendServer(settings)`` serves it on loopback in a background thread.
"""

from backend.errors import ApiError, BackendError
from backend.settings import BackendSettings

__all__ = ["ApiError", "BackendError", "BackendServer", "BackendSettings", "create_app"]


def __getattr__(name: str) -> object:
    # FastAPI and uvicorn load only when the app or server is actually used.
    if name == "create_app":
        from backend.app import create_app

        return create_app
    if name == "BackendServer":
        from backend.server import BackendServer

        return BackendServer
    raise AttributeError(name)
