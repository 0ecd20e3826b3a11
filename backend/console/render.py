"""Render the console's pages from Jinja2 templates (autoescaped) in the request's language,
with strict security headers.

Every page is ``no-store``, may not be framed, sends no referrer to other sites, and may load
only its own scripts, styles and images (no inline script, nothing from another origin).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache, partial
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from backend.console.texts import (
    HTML_LANG,
    LANG_COOKIE,
    LANGUAGES,
    has_text,
    pick_language,
    text,
    text_or,
)

SECURITY_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_PREFIX = "/console"


@cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("backend.console", "templates"),
                      autoescape=select_autoescape(default=True), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = format_time
    return env


def language(request: Request) -> str:
    """The language of this request: ``?lang=``, else the language cookie, else the browser's."""
    return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                         request.headers.get("accept-language", ""))


def page_context(request: Request, now: float) -> dict[str, Any]:
    """What every template gets: ``t`` (words by message id), ``t_or`` (the same, or the
    given English words for an id the catalogue does not know), ``ago``, the languages."""
    lang = language(request)
    other = next(x for x in LANGUAGES if x != lang)
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    lang_href = request.url.path + "?" + urlencode([*query, ("lang", other)])
    return {"t": partial(text, lang), "t_or": partial(text_or, lang),
            "has_t": partial(has_text, lang), "lang": lang,
            "html_lang": HTML_LANG[lang], "other_lang": other,
            "other_html_lang": HTML_LANG[other], "lang_href": lang_href,
            "ago": partial(format_age, now=now, lang=lang), "now": now}


def render_page(request: Request, template: str, context: dict[str, Any], *, now: float,
                status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page rendered from ``template`` in the request's language, with the security headers.
    A language chosen with ``?lang=`` is remembered in a cookie."""
    full = {**page_context(request, now), **context}
    html = _environment().get_template(template).render(**full)
    response = HTMLResponse(html, status_code=status,
                            headers={**SECURITY_HEADERS, **(headers or {})})
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, full["lang"], max_age=365 * 86400, path=_PREFIX,
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response


def render_fragment(request: Request, template: str, context: dict[str, Any], *,
                    now: float) -> str:
    """The HTML of a template used as a fragment (e.g. the fleet table's rows when polling)."""
    full = {**page_context(request, now), **context}
    return str(_environment().get_template(template).render(**full))


def format_time(value: Any) -> str:
    """A unix time or an RFC 3339 string as ``YYYY-MM-DD HH:MM:SS UTC``; '—' when missing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    words = str(value)
    return words.replace("T", " ").replace("Z", " UTC") if "T" in words else words


def format_age(value: Any, *, now: float, lang: str = "en") -> str:
    """How long ago a unix time or RFC 3339 string was, in plain words."""
    seconds = _unix(value)
    if seconds is None:
        return text(lang, "common.never")
    age = max(0, int(now - seconds))
    if age < 60:
        return text(lang, "age.s", n=age)
    if age < 3600:
        return text(lang, "age.min", n=age // 60)
    if age < 86400:
        return text(lang, "age.h", n=age // 3600)
    return text(lang, "age.d", n=age // 86400)


def _unix(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
