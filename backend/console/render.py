"""Render the console's pages from Jinja2 templates (autoescaped) with strict security headers.

Every page is ``no-store``, may not be framed, sends no referrer to other sites, and may load
only its own scripts, styles and images (no inline script, nothing from another origin).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from fastapi.responses import HTMLResponse

SECURITY_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("backend.console", "templates"),
                      autoescape=select_autoescape(default=True), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = format_time
    env.filters["ago"] = format_age
    return env


def render_page(template: str, context: dict[str, Any], *, status: int = 200,
                headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page rendered from ``template`` with the console's security headers."""
    html = _environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def render_fragment(template: str, context: dict[str, Any]) -> str:
    """The HTML of a template used as a fragment (e.g. the fleet table's rows when polling)."""
    return str(_environment().get_template(template).render(**context))


def format_time(value: Any) -> str:
    """A unix time or an RFC 3339 string as ``YYYY-MM-DD HH:MM:SS UTC``; '—' when missing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = str(value)
    return text.replace("T", " ").replace("Z", " UTC") if "T" in text else text


def format_age(value: Any, now: float) -> str:
    """How long ago a unix time or RFC 3339 string was, in plain words."""
    seconds = _unix(value)
    if seconds is None:
        return "never"
    age = max(0, int(now - seconds))
    if age < 60:
        return f"{age} s ago"
    if age < 3600:
        return f"{age // 60} min ago"
    if age < 86400:
        return f"{age // 3600} h ago"
    return f"{age // 86400} d ago"


def _unix(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
