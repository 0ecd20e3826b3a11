"""The console's words in English and Chinese, from one catalogue keyed by message id, and the
language a request is shown in."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from backend.errors import BackendError

LANGUAGES: tuple[str, ...] = ("en", "zh")
HTML_LANG = {"en": "en", "zh": "zh-CN"}
LANG_COOKIE = "scanpay_console_lang"


class _Blank(dict):  # type: ignore[type-arg]
    """Fills a field nobody supplied with nothing rather than failing the whole page."""

    def __missing__(self, key: str) -> str:
        return ""


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Language -> message id -> words (``backend/console/texts.toml``)."""
    source = resources.files("backend.console").joinpath("texts.toml")
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BackendError(f"console texts: {exc}") from None
    missing = [lang for lang in LANGUAGES if not isinstance(data.get(lang), dict)]
    if missing:
        raise BackendError(f"console texts: no [{missing[0]}] table")
    return {lang: {str(k): str(v) for k, v in data[lang].items()} for lang in LANGUAGES}


def text(lang: str, message_id: str, **values: Any) -> str:
    """The words of ``message_id`` in ``lang`` (English when the language lacks it; the id
    itself when no language has it, so a missing message shows in tests)."""
    words = catalogue().get(lang, {}).get(message_id)
    if words is None:
        words = catalogue()["en"].get(message_id, message_id)
    return words.format_map(_Blank(values)) if values else words


def has_text(lang: str, message_id: str) -> bool:
    """Whether ``message_id`` has words in ``lang``."""
    return message_id in catalogue().get(lang, {})


def text_or(lang: str, message_id: str, fallback: str, **values: Any) -> str:
    """The words of ``message_id`` in ``lang``, or ``fallback`` (the back end's own English
    sentence) when the catalogue does not know the id: a code no page expected."""
    if not has_text(lang, message_id):
        return fallback
    return text(lang, message_id, **values)


def service_text(lang: str, code: str, fallback: str, **values: Any) -> str:
    """A back-end service's refusal (its error ``code``: ``unknown_vehicle``,
    ``alarm_not_open``, ...) in ``lang``: the words of ``service.<code>``, else its English
    message."""
    return text_or(lang, f"service.{code}", fallback, **values)


def pick_language(query: str | None, cookie: str | None, accept_language: str) -> str:
    """The language to show: the one asked for in the query, else the cookie's, else the
    browser's first of ours (``Accept-Language``), else English."""
    for chosen in (query, cookie):
        if chosen in LANGUAGES:
            return str(chosen)
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"
