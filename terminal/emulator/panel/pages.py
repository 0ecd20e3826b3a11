"""Templates and static files of the emulator's pages (served from the package, no CDN)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                              autoescape=jinja2.select_autoescape(["html"]),
                              trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def render(template: str, **context: Any) -> str:
    """``template`` rendered with ``context`` (HTML-escaped)."""
    return str(_environment().get_template(template).render(**context))


def static_files() -> Any:
    """An ASGI app serving the pages' CSS and JavaScript."""
    from starlette.staticfiles import StaticFiles

    return StaticFiles(directory=STATIC_DIR)


def html_response(text: str, status_code: int = 200) -> Any:
    """A page that browsers must not cache."""
    from starlette.responses import HTMLResponse

    return HTMLResponse(text, status_code=status_code, headers={"Cache-Control": "no-store"})
