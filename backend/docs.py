"""The OpenAPI page at ``/docs`` with Swagger UI served from the package (no internet needed)."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

log = logging.getLogger(__name__)

STATIC_PATH = "/static/swagger-ui"


def mount_docs(app: FastAPI) -> None:
    """Serve Swagger UI's files under ``/static/swagger-ui`` and ``/docs`` pointing at them."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        log.warning("swagger-ui-bundle is not installed; /docs is not served")
        return
    from fastapi.openapi.docs import get_swagger_ui_html
    from starlette.staticfiles import StaticFiles

    app.mount(STATIC_PATH, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} - API"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=title,
            swagger_js_url=f"{STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_PATH}/favicon-32x32.png",
            # No call to the public validator service either.
            swagger_ui_parameters={"validatorUrl": None},
        )
