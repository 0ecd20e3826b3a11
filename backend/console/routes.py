"""The operator console as one router module of the back end (see backend/app.py).

Pages live under ``/console`` and are left out of the OpenAPI document: they are for people in
a browser, authenticated by a console session (:mod:`.sessions`), not by API keys. The request
guard lets ``/console`` through without an API key for that reason; every page but the sign-in
ones checks the session itself.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from backend.console import routes_auth, routes_disputes, routes_fleet
from backend.console.render import SECURITY_HEADERS
from backend.console.sessions import SCHEMA_SQL
from backend.console.web import PREFIX

router = APIRouter(include_in_schema=False)
router.include_router(routes_auth.router)
router.include_router(routes_fleet.router)
router.include_router(routes_disputes.router)

_STATIC_TYPES = {"console.css": "text/css; charset=utf-8",
                 "console.js": "text/javascript; charset=utf-8"}


@router.get(PREFIX + "/static/{name}")
def static_file(name: str) -> Response:
    """The console's own stylesheet and script (nothing else is served from here)."""
    kind = _STATIC_TYPES.get(name)
    if kind is None:
        return Response("not found", status_code=404, media_type="text/plain")
    body = resources.files("backend.console").joinpath("static", name).read_bytes()
    headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"}
    return Response(body, media_type=kind, headers={**headers, "Cache-Control": "no-cache"})


__all__ = ["SCHEMA_SQL", "router"]
