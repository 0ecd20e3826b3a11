"""What every console page shares: the session cookie, form bodies, CSRF checks, redirects.

Pages call :func:`signed_in` first: it answers the live :class:`~.sessions.ConsoleSession` or
raises :class:`SignInNeeded`, which the router turns into a redirect to the sign-in page with
a plain reason. POSTs call :func:`signed_in_form` (the session, the form, its CSRF check).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from backend.console.operators import operator_key
from backend.console.render import SECURITY_HEADERS, language
from backend.console.service_calls import ServiceProblem
from backend.console.sessions import (
    ABSOLUTE_TIMEOUT_S,
    ConsoleSession,
    csrf_ok,
    end_session,
    touch_session,
)
from backend.console.texts import text, text_or
from backend.context import Backend, get_backend
from backend.errors import BackendError

COOKIE = "scanpay_console"
PRE_COOKIE = "scanpay_console_pre"
PREFIX = "/console"
MAX_FORM_BYTES = 16 * 1024

# Every reason a person lands on the sign-in page; the words are "msg.<reason>" in texts.toml.
REASONS: frozenset[str] = frozenset({
    "signin", "expired", "signed_out", "unknown_key", "not_operator", "cookies", "malformed",
    "forged", "link_expired", "used", "no_operator"})


class SignInNeeded(BackendError):
    """The request has no live console session; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(text("en", f"msg.{reason}"))
        self.reason = reason


class Refused(BackendError):
    """What was asked cannot be done (CSRF or origin check failed, unreadable form, unknown
    unit...): shown as a page with ``status`` and the words of ``message_id`` (``fallback``,
    English, when the catalogue does not know the id)."""

    def __init__(self, status: int, message_id: str, *, fallback: str | None = None,
                 **values: object) -> None:
        super().__init__(fallback if fallback is not None else text("en", message_id, **values))
        self.status = status
        self.message_id = message_id
        self.values = values
        self.fallback = fallback


def service_refused(problem: ServiceProblem, **values: object) -> Refused:
    """A back-end service's refusal (a FleetProblem or DisputesProblem, with its ``status``,
    ``code`` and English message) as a page in the reader's language: the words of
    ``service.<code>`` with ``values`` (``device``, ``code``...)."""
    return Refused(problem.status, f"service.{problem.code}", fallback=str(problem), **values)


def backend_of(request: Request) -> Backend:
    """The app's back end."""
    return get_backend(request)


async def signed_in(request: Request) -> ConsoleSession:
    """The live session of this request or SignInNeeded. A page refreshing itself (header
    ``X-Console-Poll: 1``) does not restart the idle timer: an unattended open page ends its
    session like any other."""
    backend = backend_of(request)
    token = request.cookies.get(COOKIE, "")
    if not token:
        raise SignInNeeded("signin")
    active = request.headers.get("x-console-poll") != "1"
    session = await run_in_threadpool(_touch, backend, token, active)
    if session is None:
        raise SignInNeeded("expired")
    return session


def _touch(backend: Backend, token: str, active: bool) -> ConsoleSession | None:
    now = backend.now()
    with backend.store.transaction() as conn:
        session = touch_session(conn, token, now, active=active)
        if session is not None and operator_key(backend, session.operator_id,
                                                session.key_id) is None:
            end_session(conn, token, now)
            return None
    return session


async def read_form(request: Request) -> dict[str, str]:
    """The URL-encoded form of a POST (first value of each field); Refused when unreadable.
    The request's Origin, when sent, must be this console's own."""
    origin = request.headers.get("origin")
    if origin is not None and origin != own_origin(request):
        raise Refused(403, "error.foreign_origin")
    body = await request.body()
    if not body:
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "error.form_only")
    if len(body) > MAX_FORM_BYTES:
        raise Refused(413, "error.form_too_large", n=MAX_FORM_BYTES)
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "error.form_unreadable") from None
    return {name: values[0] for name, values in fields.items()}


async def signed_in_form(request: Request) -> tuple[ConsoleSession, dict[str, str]]:
    """What every console POST does first: the live session (:func:`signed_in`), the form
    (:func:`read_form`) and its CSRF token checked (:func:`check_csrf`)."""
    session = await signed_in(request)
    form = await read_form(request)
    check_csrf(session, form)
    return session, form


def check_csrf(session: ConsoleSession, form: dict[str, Any]) -> None:
    """Refused (403) unless the form carries this session's CSRF token."""
    if not csrf_ok(session.token, str(form.get("csrf", ""))):
        raise Refused(403, "error.csrf")


def own_origin(request: Request) -> str:
    """``scheme://host[:port]`` of this request as the browser addressed it."""
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def redirect(path: str, **query: str) -> RedirectResponse:
    """A 303 "see other" to a console path (after a POST, or to the sign-in page)."""
    target = path + (f"?{urlencode(query)}" if query else "")
    return RedirectResponse(target, status_code=303, headers=dict(SECURITY_HEADERS))


def set_session_cookie(response: Any, request: Request, token: str) -> None:
    """Put the session token in an HttpOnly, SameSite=Strict cookie limited to the console."""
    response.set_cookie(COOKIE, token, max_age=ABSOLUTE_TIMEOUT_S, path=PREFIX, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def clear_session_cookie(response: Any, request: Request) -> None:
    """Remove the session cookie."""
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def guarded(handler: Any) -> Any:
    """Wrap an async page handler: SignInNeeded becomes a redirect to the sign-in page with the
    reason (a 401 for scripts asking for JSON or fragments), Refused becomes a plain error
    page."""
    import functools

    from fastapi.responses import JSONResponse

    from backend.console.render import render_page

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = kwargs["request"]
        try:
            return await handler(*args, **kwargs)
        except SignInNeeded as exc:
            if request.headers.get("x-console-poll") == "1":
                return JSONResponse({"signed_in": False,
                                     "message": text(language(request), f"msg.{exc.reason}")},
                                    status_code=401, headers=dict(SECURITY_HEADERS))
            response = redirect(f"{PREFIX}/login", msg=exc.reason)
            if exc.reason == "expired":
                clear_session_cookie(response, request)
            return response
        except Refused as exc:
            lang = language(request)
            message = text(lang, exc.message_id, **exc.values) if exc.fallback is None \
                else text_or(lang, exc.message_id, exc.fallback, **exc.values)
            return render_page(request, "message.html", {
                "title": text(lang, "error.title"), "session": None, "message": message},
                now=backend_of(request).now(), status=exc.status)

    return wrapper
