"""The screen's words in every language, from one catalogue keyed by message id."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from terminal.errors import ConfigError

LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Texts:
    """Message ids to words, per language."""

    messages: dict[str, dict[str, str]]

    def get(self, lang: str, message_id: str, default: str | None = None, **values: Any) -> str:
        """The words for ``message_id`` in ``lang`` with ``{name}`` fields filled in.

        An unknown id gives ``default`` (the flow's own English words) or the id itself, so a
        missing message shows up in tests rather than as a blank screen.
        """
        text = self.messages.get(lang, {}).get(message_id)
        if text is None:
            text = default if default is not None else message_id
        return text.format_map(_Missing(values)) if values else text

    def has(self, lang: str, message_id: str) -> bool:
        """Whether ``message_id`` exists in ``lang``."""
        return message_id in self.messages.get(lang, {})


class _Missing(dict):  # type: ignore[type-arg]
    """Fills a field nobody supplied with nothing rather than failing the whole screen."""

    def __missing__(self, key: str) -> str:
        return ""


def load_texts() -> Texts:
    """The catalogue bundled with the package (``terminal/kiosk/web/texts.toml``)."""
    source = resources.files("terminal.kiosk.web").joinpath("texts.toml")
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"kiosk texts: {exc}") from None
    missing = [lang for lang in LANGUAGES if not isinstance(data.get(lang), dict)]
    if missing:
        raise ConfigError(f"kiosk texts: no [{missing[0]}] table")
    return Texts({lang: {str(k): str(v) for k, v in data[lang].items()} for lang in LANGUAGES})
