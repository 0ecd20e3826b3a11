"""The person's report page (``/me/<token>``) on their own phone, and its dispute form.

A terminal's decision screen shows a QR with a link to this page; the token in it (from
``POST /v1/person/report-links``) lets the page read the person's report from the back end:
score, range, the factors with the events behind them, restrictions with their origin, what
the terminals hold about them, which decisions used the score, and their disputes with every
step. A plain HTML form (no script) opens a dispute on an event or a restriction.

The page keeps nothing: every view asks the back end with the token (which the back end
stores only hashed and lets expire). The same routes serve the kiosk's web app and the bike
unit's page. Chinese and English, from the kiosk's text catalogue: factors, reasons, restrictions
and decisions are put in words from their codes and numbers (:mod:`.person_words`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

from payments.clients.errors import ApiError, AuthenticationError, BadArgument, NotFoundError
from payments.clients.person import MAX_REASON_CHARS, PersonClient, PersonReport, check_token
from terminal.kiosk.web.person_words import PersonWords
from terminal.kiosk.web.texts import LANGUAGES, Texts

MAX_FORM_BYTES = 16384
HEADERS = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache",
           "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"}
HTML_LANG = {"zh": "zh-CN", "en": "en"}


class PersonPages:
    """Renders the report page and opens disputes through ``client`` (the back end's person
    API; no key of its own is needed: every call carries the person's token)."""

    def __init__(self, client: PersonClient, texts: Texts, *, default_lang: str = "zh") -> None:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        self._client = client
        self._texts = texts
        self._default_lang = default_lang if default_lang in LANGUAGES else "zh"
        self._env = Environment(loader=PackageLoader("terminal.kiosk.web", "templates"),
                                autoescape=select_autoescape(default=True),
                                undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    def lang_of(self, query: str | None, accept: str | None) -> str:
        """``?lang=`` when given, else the phone's first language we have, else the default."""
        if query in LANGUAGES:
            return str(query)
        for part in (accept or "").split(","):
            tag = part.split(";")[0].strip().lower()[:2]
            if tag in LANGUAGES:
                return tag
        return self._default_lang

    def close(self) -> None:
        """Close the back-end client; safe to call twice."""
        self._client.close()

    def report(self, token: str) -> PersonReport:
        """The person's report (raises the client's errors)."""
        with self._client.for_token(token) as person:
            return person.report()

    def open_dispute(self, token: str, item: str, reason: str) -> str:
        """Open a dispute on ``item`` (``event:<id>`` or ``restriction:<id>``); its id."""
        kind, _, item_id = item.partition(":")
        if kind not in ("event", "restriction") or not item_id:
            raise BadArgument("choose the event or restriction you contest")
        with self._client.for_token(token) as person:
            return person.open_dispute(kind, item_id, reason).dispute_id  # type: ignore[arg-type]

    def render(self, lang: str, token: str, report: PersonReport | None, *,
               error: str = "", opened: str = "", reason: str = "", item: str = "") -> str:
        """The page: the report, or the error when there is none."""
        texts = self._texts

        def t(message_id: str, default: str | None = None, **values: Any) -> str:
            return texts.get(lang, message_id, default, **values)

        if report is not None and not any(d.dispute_id == opened and d.status == "under_review"
                                          for d in report.disputes):
            opened = ""  # the banner is for a dispute just opened, not one decided since
        other = "en" if lang == "zh" else "zh"
        return self._env.get_template("person.html").render(
            t=t, lang=lang, html_lang=HTML_LANG[lang], other_lang=other,
            other_html_lang=HTML_LANG[other], r=report, token=token, error=error,
            opened=opened, reason=reason, item=item, max_reason=MAX_REASON_CHARS,
            when=_when, contested=_contested(report), self_url=f"/me/{token}",
            words=PersonWords(texts, lang, report))


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _contested(report: PersonReport | None) -> set[str]:
    if report is None:
        return set()
    return {f"{d.kind}:{d.item_id}" for d in report.disputes if d.status == "under_review"}


def error_code(exc: Exception) -> str:
    """The message id for a failed back-end call."""
    if isinstance(exc, AuthenticationError | NotFoundError):
        return "person.error.expired"
    if isinstance(exc, BadArgument):
        return "person.error.bad_request"
    if isinstance(exc, ApiError) and exc.http_status is not None and exc.http_status < 500:
        return "person.error.refused"
    return "person.error.unavailable"


def person_css() -> str:
    """The page's style sheet."""
    return resources.files("terminal.kiosk.web").joinpath("static", "person.css") \
        .read_text(encoding="utf-8")


def person_routes(pages: PersonPages) -> list[Any]:
    """``GET /me/{token}``, ``POST /me/{token}/disputes`` and ``GET /person.css``."""
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        import anyio

        return await anyio.to_thread.run_sync(fn, *args)

    def lang(request: Request) -> str:
        return pages.lang_of(request.query_params.get("lang"),
                             request.headers.get("accept-language"))

    async def page(request: Request) -> Response:
        language = lang(request)
        token = request.path_params["token"]
        try:
            check_token(token)
        except BadArgument:  # not a token the back end could have made: an invalid link
            html = pages.render(language, token[:64], None, error="person.error.expired")
            return HTMLResponse(html, status_code=404, headers=HEADERS)
        try:
            report = await call(pages.report, token)
        except (ApiError, BadArgument) as exc:
            status = 404 if error_code(exc) == "person.error.expired" else 503
            html = pages.render(language, token, None, error=error_code(exc))
            return HTMLResponse(html, status_code=status, headers=HEADERS)
        opened = request.query_params.get("opened", "")
        html = pages.render(language, token, report, opened=opened[:64])
        return HTMLResponse(html, headers=HEADERS)

    async def dispute(request: Request) -> Response:
        language = lang(request)
        token = request.path_params["token"]
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return HTMLResponse("forms come from this page", status_code=403, headers=HEADERS)
        body = await _small_body(request)
        if body is None:
            return HTMLResponse(f"a dispute is at most {MAX_FORM_BYTES} bytes",
                                status_code=413, headers=HEADERS)
        fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                               keep_blank_values=True).items()}
        item, reason = fields.get("item", ""), fields.get("reason", "")
        try:
            check_token(token)
            dispute_id = await call(pages.open_dispute, token, item, reason)
        except (ApiError, BadArgument) as exc:
            code = "person.error.reason" if isinstance(exc, BadArgument) and item else \
                error_code(exc)
            report = None
            with contextlib.suppress(ApiError, BadArgument):
                report = await call(pages.report, token)
            html = pages.render(language, token, report, error=code, reason=reason, item=item)
            return HTMLResponse(html, status_code=400 if isinstance(exc, BadArgument) else 409,
                                headers=HEADERS)
        query = urlencode({"lang": language, "opened": dispute_id})
        return RedirectResponse(f"/me/{token}?{query}#disputes", status_code=303,
                                headers=HEADERS)

    async def css(request: Request) -> Response:
        return Response(person_css(), media_type="text/css",
                        headers={"Cache-Control": "max-age=300"})

    return [Route("/me/{token}", page), Route("/me/{token}/disputes", dispute, methods=["POST"]),
            Route("/person.css", css)]


async def _small_body(request: Any) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
