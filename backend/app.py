"""The reference back end's FastAPI app: score service and payment gateway in one process.

Plug-in mechanism
-----------------
``create_app`` includes the routers of every module in :data:`ROUTER_MODULES`. A router module
exposes ``router: fastapi.APIRouter`` and, optionally, ``SCHEMA_SQL: str`` — idempotent DDL
(``CREATE TABLE IF NOT EXISTS ...``) in portable SQL, applied as that module's first schema
migration — and ``MIGRATIONS``, ordered ``(name, sql)`` steps that change its tables later
(:mod:`backend.migrations`; never edit an applied ``SCHEMA_SQL`` to change a column). To add
one, write ``backend/routes_<name>.py`` and append its dotted name to ``ROUTER_MODULES``.

Inside a route, use the annotated dependencies of :mod:`backend.context`:

- ``backend: BackendDep`` — :class:`~backend.context.Backend`:
  ``backend.store.transaction()`` (a context manager yielding a connection-like object of
  :mod:`backend.store` — SQLite or PostgreSQL — with ``execute(sql, params)`` and rows by name
  or index; one transaction per request, committed when the block ends, rolled back on error;
  tables of all modules share one database; ``SELECT ... FOR UPDATE`` on the rows money
  depends on), ``backend.now()`` / ``backend.clock`` (the injected clock; never
  call ``time.time()``), ``backend.settings``, ``backend.signing_key`` (the active one).
- ``terminal_id: TerminalId`` — the calling terminal, from its Bearer API key (raises
  ``401 unauthenticated``, or ``403 forbidden`` when its role may not call the route; see
  :mod:`.roles`). ``caller: CallerDep`` gives the role too. Leave it out only for public routes.
- ``req_id: RequestId`` — this request's id (already sent as ``X-Request-Id``).

Errors: ``raise ApiError(status, "snake_case_code", "plain words")`` (from
:mod:`backend.errors`); the app turns it into the documented error body. Bad
request bodies become ``400 invalid_request``; unexpected exceptions become ``500
internal_error`` (logged, never a traceback to the client).

Money-moving or code-consuming POSTs take ``key: IdempotencyKey`` (from
:mod:`backend.idempotency`) and wrap their work in ``run_idempotent(request,
terminal_id=..., key=key, body=<the parsed body as JSON data>, operation=fn)``, where ``fn(conn)``
returns ``(status, body)``; the response is stored per (terminal, key) and replayed.

A module with ``DEV_ONLY = True`` is mounted only in dev mode
(``BackendSettings.serves_dev_routes``). A module may define ``on_start(backend)``, run once
after the schemas (e.g. re-encrypting data under a rotated key). Every route must be listed in
:data:`backend.roles.ROUTE_ROLES` (the roles that may call it); the request
guard (:mod:`.guard`) authenticates before any body is read.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend import score_reads
from backend.context import Backend
from backend.docs import mount_docs
from backend.errors import ApiError, BackendError
from backend.guard import RequestGuard
from backend.idempotency import error_body
from backend.json_response import OrjsonResponse
from backend.migrations import Migration, from_modules, migrate, pending
from backend.settings import BackendSettings

log = logging.getLogger(__name__)

# Router modules, each exposing `router` and optionally `SCHEMA_SQL`.
ROUTER_MODULES: tuple[str, ...] = (
    "backend.routes_health",
    "backend.routes_scores",
    "backend.routes_codes",
    "backend.routes_money",
    "backend.routes_dev",
    "backend.routes_face",
    "backend.routes_orders",
    "backend.routes_orders_dev",
    "backend.routes_fleet",
    "backend.routes_person",
    "backend.console.routes",  # the operator console's pages (/console; sessions, not API keys)
)

CORE_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS idempotency (
    terminal_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (terminal_id, key)
);
CREATE TABLE IF NOT EXISTS subjects (
    subject_id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
"""

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")


class RequestIdMiddleware:
    """Give every request an id, send it as ``X-Request-Id``, and turn crashes into a 500 body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Request ids need to be unique, not secret: a random per-process prefix and a counter
        # (a fresh random id per request cost a getrandom call each, visible under load).
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        req_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) \
            else f"req_{self._prefix}{next(self._counter):08x}"
        scope.setdefault("state", {})["request_id"] = req_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", req_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request %s failed", req_id)
            if started:
                raise
            response = JSONResponse(
                status_code=500,
                content=error_body("internal_error",
                                   "the back end failed; the request may be retried", req_id),
            )
            await response(scope, receive, send_with_id)


def _req_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "req_unknown"))


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(status_code=exc.status,
                        content=error_body(exc.code, exc.message, _req_id(request)))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return JSONResponse(status_code=400, content=error_body(
        "invalid_request", "invalid request: " + "; ".join(problems), _req_id(request)))


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "invalid_request",
               413: "request_too_large", 415: "unsupported_media_type"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such API route: {request.url.path}"
    elif exc.status_code == 405 and message == "Method Not Allowed":
        message = f"{request.method} is not allowed on {request.url.path}"
    return JSONResponse(status_code=exc.status_code,
                        content=error_body(code, message, _req_id(request)),
                        headers=getattr(exc, "headers", None))


def migrations(modules: list[Any] | None = None) -> list[Migration]:
    """The ordered schema migrations of the core and of every registered module (see
    :mod:`backend.migrations`)."""
    from backend import signatures

    if modules is None:
        modules = [importlib.import_module(name) for name in ROUTER_MODULES]
    return from_modules([("backend.app:core", CORE_SCHEMA_SQL),
                         ("backend.signatures:schema", signatures.SCHEMA_SQL)], modules)


def prepare_schema(backend: Backend, modules: list[Any]) -> None:
    """Apply pending migrations (``settings.migrate``), or refuse to start while any is
    pending."""
    steps = migrations(modules)
    if backend.settings.migrate:
        migrate(backend.store, steps, backend.now())
        return
    waiting = pending(backend.store, steps)
    if waiting:
        raise BackendError(f"the database needs {len(waiting)} schema migration(s) "
                           f"({waiting[0].name}, ...); run 'scanpay backend migrate' first")


def create_app(settings: BackendSettings | None = None) -> FastAPI:
    """Build the app: open the database, create every module's tables, seed the demo data."""
    from backend.seed import seed_demo

    settings = settings or BackendSettings()
    modules: list[Any] = [importlib.import_module(name) for name in ROUTER_MODULES]
    backend = Backend.open(settings)
    try:
        prepare_schema(backend, modules)
        for module in modules:
            start_up = getattr(module, "on_start", None)
            if start_up is not None:
                start_up(backend)
        if settings.dev and settings.seed_demo:
            seed_demo(backend)
    except BaseException:
        backend.close()
        raise

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        score_reads.flush(backend, wait=True)  # reads noted and not yet written
        backend.close()

    app = FastAPI(
        title="ScanPay reference back end",
        version="1",
        description="Score service and payment gateway of docs/api.md, for the emulator and tests.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        default_response_class=OrjsonResponse,
        # FastAPI's built-in OpenTelemetry hooks, off: no exporter is configured, and asking
        # the providers on every request cost CPU under load (bench load).
        telemetry={"tracing": False, "metrics": False, "logs": False,
                   "operation_spans": False},
    )
    app.state.backend = backend
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Added last = outermost: every answer, the guard's refusals included, carries a request id.
    app.add_middleware(RequestGuard, backend=backend)
    app.add_middleware(RequestIdMiddleware)
    for module in modules:
        if getattr(module, "DEV_ONLY", False) and not settings.serves_dev_routes:
            continue
        app.include_router(module.router)
    mount_docs(app)
    return app
