"""The kiosk's local web app: the page, pushed screens, taps, the camera preview, the staff
screen. It holds no business rules: taps go to the flow, screens come from its snapshot."""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import TYPE_CHECKING, Any

from terminal.errors import FlowError
from terminal.web.push import sse_response

if TYPE_CHECKING:
    from terminal.kiosk.app import KioskApp

log = logging.getLogger(__name__)
MAX_ACTION_BYTES = 4096
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


def static_dir() -> str:
    """The folder of the page's scripts, styles, pictures and icons."""
    return str(resources.files("terminal.kiosk.web").joinpath("static"))


def create_kiosk_app(kiosk: KioskApp) -> Any:
    """The Starlette app serving ``kiosk``'s screen."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import (
        HTMLResponse,
        JSONResponse,
        PlainTextResponse,
        Response,
        StreamingResponse,
    )
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from terminal.kiosk.web.person import person_routes
    from terminal.kiosk.web.preview import BOUNDARY
    from terminal.kiosk.web.staff import staff_routes

    async def page(request: Request) -> Response:
        return HTMLResponse(kiosk.page_html(), headers=NO_STORE)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def events(request: Request) -> Response:
        return sse_response(kiosk.broadcaster)

    async def screen_json(request: Request) -> Response:
        return JSONResponse(kiosk.flow.snapshot(), headers=NO_STORE)

    async def action(request: Request) -> Response:
        if not _same_origin(request):
            return JSONResponse({"error": "taps come from the kiosk's own page"}, 403)
        body = await _small_body(request, MAX_ACTION_BYTES)
        if body is None:
            return JSONResponse({"error": f"a tap is at most {MAX_ACTION_BYTES} bytes"}, 413)
        try:
            data = json.loads(body)
            name = data["action"]
            args = data.get("args") or {}
            if not isinstance(name, str) or not isinstance(args, dict) \
                    or not all(isinstance(k, str) and isinstance(v, str)
                               for k, v in args.items()):
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError):  # deep nesting: not a tap
            return JSONResponse({"error": 'expected {"action": "...", "args": {"name": '
                                          '"text"}}'}, 400)
        try:
            await _in_thread(kiosk.flow.act, name, args)
        except FlowError as exc:
            return JSONResponse({"error": str(exc)}, 409)
        return Response(status_code=204)

    async def camera(request: Request) -> Response:
        headers = {**NO_STORE, "X-Content-Type-Options": "nosniff"}
        return StreamingResponse(kiosk.preview.mjpeg(lambda: kiosk.flow.wants_camera),
                                 media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers=headers)

    routes = [
        Route("/", page),
        Route("/healthz", health),
        Route("/events", events),
        Route("/screen.json", screen_json),
        Route("/action", action, methods=["POST"]),
        Route("/camera.mjpg", camera),
        *staff_routes(kiosk),
        *person_routes(kiosk.person_pages),
        Mount("/static", app=StaticFiles(directory=static_dir()), name="static"),
    ]
    return Starlette(routes=routes)


def _same_origin(request: Any) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


async def _small_body(request: Any, limit: int) -> bytes | None:
    """The request body, or None as soon as it is longer than ``limit`` (never read whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _in_thread(fn: Any, *args: Any) -> Any:
    import anyio

    return await anyio.to_thread.run_sync(fn, *args)
