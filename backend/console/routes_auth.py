"""Signing in and out of the console: a one-time link or an operator API key, then a session.

Both sign-in forms carry a pre-sign-in token that must match an HttpOnly, SameSite=Strict cookie
set with the form (so another site cannot sign a browser in to someone else's session), and a
link is confirmed by a button (a POST), so a link preview that fetches the URL spends nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from backend.console.links import (
    LinkClaims,
    LinkError,
    check_link_mac,
    check_link_time,
    parse_link_token,
)
from backend.console.operators import operator_key
from backend.console.render import language, render_page
from backend.console.sessions import create_session, end_session, spend_link
from backend.console.texts import text
from backend.console.web import (
    COOKIE,
    PRE_COOKIE,
    PREFIX,
    REASONS,
    SignInNeeded,
    backend_of,
    clear_session_cookie,
    guarded,
    read_form,
    redirect,
    set_session_cookie,
    signed_in_form,
)
from backend.context import Backend

router = APIRouter(include_in_schema=False)
_PRE_TTL_S = 15 * 60
_LINK_REASONS = {"expired": "link_expired"}


@router.get(PREFIX)
def console_root() -> Response:
    """The console's front door: the fleet list."""
    return redirect(f"{PREFIX}/fleet")


@router.get(f"{PREFIX}/login")
def login_page(request: Request, msg: str = "signin") -> Response:
    """The sign-in page (API key form), with the reason the person is here."""
    return _login(request, msg if msg in REASONS else "signin")


@router.post(f"{PREFIX}/login")
@guarded
async def login(request: Request) -> Response:
    """Exchange an operator API key for a session."""
    backend = backend_of(request)
    form = await read_form(request)
    if not _pre_ok(request, form):
        return _login(request, "cookies", status=400)
    key = form.get("api_key", "").strip()
    caller = backend.authenticate(f"Bearer {key}") if key else None
    if caller is None:
        return _login(request, "unknown_key", status=401)
    if caller.role != "operator" or operator_key(backend, caller.terminal_id,
                                                 caller.key_id) is None:
        return _login(request, "not_operator", status=403)
    return await run_in_threadpool(_start, request, backend, caller.terminal_id, caller.key_id,
                                   None)


@router.get(f"{PREFIX}/link")
def link_page(request: Request, token: str = "") -> Response:
    """Confirm a one-time sign-in link (nothing is spent until the button is pressed)."""
    backend = backend_of(request)
    try:
        claims = _checked_link(backend, token)
    except SignInNeeded as exc:
        return _login(request, exc.reason, status=400)
    pre = secrets.token_urlsafe(24)
    response = render_page(request, "link.html", {
        "title": text(language(request), "login.title"), "session": None,
        "operator_id": claims.operator_id, "token": token, "pre": pre,
        "expires_at": claims.expires_at}, now=backend.now())
    _set_pre(response, request, pre)
    return response


@router.post(f"{PREFIX}/link")
@guarded
async def link_sign_in(request: Request) -> Response:
    """Spend a one-time sign-in link and start the session it grants."""
    backend = backend_of(request)
    form = await read_form(request)
    if not _pre_ok(request, form):
        return _login(request, "cookies", status=400)
    try:
        claims = _checked_link(backend, form.get("token", ""))
    except SignInNeeded as exc:
        return _login(request, exc.reason, status=400)
    try:
        return await run_in_threadpool(_start, request, backend, claims.operator_id,
                                       claims.key_id, claims)
    except LinkError as exc:
        return _login(request, _LINK_REASONS.get(exc.reason, exc.reason), status=400)


@router.post(f"{PREFIX}/logout")
@guarded
async def logout(request: Request) -> Response:
    """End the session (CSRF-checked) and clear its cookie."""
    backend = backend_of(request)
    session, _ = await signed_in_form(request)
    with backend.store.transaction() as conn:
        end_session(conn, session.token, backend.now())
    response = redirect(f"{PREFIX}/login", msg="signed_out")
    clear_session_cookie(response, request)
    return response


def _checked_link(backend: Backend, token: str) -> LinkClaims:
    try:
        claims = parse_link_token(token)
        key = operator_key(backend, claims.operator_id, claims.key_id)
        if key is None:
            raise SignInNeeded("no_operator")
        check_link_mac(claims, key.sign_secret)
        check_link_time(claims, backend.now())
    except LinkError as exc:
        raise SignInNeeded(_LINK_REASONS.get(exc.reason, exc.reason)) from None
    except SignInNeeded:
        raise
    except Exception:  # e.g. a key without a signing secret
        raise SignInNeeded("forged") from None
    return claims


def _start(request: Request, backend: Backend, operator_id: str, key_id: str,
           claims: LinkClaims | None) -> Response:
    now = backend.now()
    with backend.store.transaction() as conn:
        if claims is not None:
            spend_link(conn, claims, now)
        old = request.cookies.get(COOKIE, "")
        if old:
            end_session(conn, old, now)  # a new sign-in never reuses an old session id
        session = create_session(conn, operator_id=operator_id, key_id=key_id, now=now)
    response = redirect(f"{PREFIX}/fleet")
    set_session_cookie(response, request, session.token)
    response.delete_cookie(PRE_COOKIE, path=PREFIX)
    return response


def _login(request: Request, reason: str, *, status: int = 200) -> Response:
    pre = secrets.token_urlsafe(24)
    error = reason not in ("signin", "signed_out")
    lang = language(request)
    response = render_page(request, "login.html", {
        "title": text(lang, "login.title"), "session": None,
        "message": text(lang, f"msg.{reason}"), "error": error, "reason": reason, "pre": pre},
        now=backend_of(request).now(), status=status)
    _set_pre(response, request, pre)
    return response


def _set_pre(response: Response, request: Request, pre: str) -> None:
    response.set_cookie(PRE_COOKIE, pre, max_age=_PRE_TTL_S, path=PREFIX, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def _pre_ok(request: Request, form: dict[str, Any]) -> bool:
    import hmac

    cookie, sent = request.cookies.get(PRE_COOKIE, ""), str(form.get("pre", ""))
    return bool(cookie) and hmac.compare_digest(cookie, sent)

