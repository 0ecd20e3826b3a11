"""Render the kiosk's screens from the flow's snapshot with Jinja2 templates (autoescaped)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

from terminal.kiosk.web.texts import Texts

HTML_LANG = {"zh": "zh-CN", "en": "en"}
OTHER = {"zh": "en", "en": "zh"}


class ScreenRenderer:
    """Turns a snapshot into the HTML of the page and of one screen."""

    def __init__(self, texts: Texts, *, art: dict[str, str], enroll_offered: bool,
                 wall_clock: Callable[[], float] = time.time) -> None:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        self._texts = texts
        self._art = art
        self._enroll_offered = enroll_offered
        self._wall = wall_clock
        self._env = Environment(loader=PackageLoader("terminal.kiosk.web", "templates"),
                                autoescape=select_autoescape(default=True),
                                undefined=StrictUndefined, trim_blocks=True,
                                lstrip_blocks=True)

    def screen(self, snapshot: dict[str, Any]) -> str:
        """The HTML of the current screen (what a push replaces)."""
        return self._env.get_template("screen.html").render(self._context(snapshot))

    def page(self, snapshot: dict[str, Any]) -> str:
        """The whole page, with the current screen already in it."""
        context = self._context(snapshot)
        context["screen_html"] = Markup(self._env.get_template("screen.html").render(context))
        return self._env.get_template("page.html").render(context)

    def staff(self, template: str, context: dict[str, Any]) -> str:
        """A staff page (``context["lang"]`` picks the language)."""
        lang = context["lang"]
        texts = self._texts

        def t(message_id: str, default: str | None = None, **values: Any) -> str:
            return texts.get(lang, message_id, default, **values)

        return self._env.get_template(template).render(
            {**context, "t": t, "html_lang": HTML_LANG[lang], "other_lang": OTHER[lang],
             "other_html_lang": HTML_LANG[OTHER[lang]]})

    def _context(self, s: dict[str, Any]) -> dict[str, Any]:
        lang = s["lang"]
        texts = self._texts

        def t(message_id: str, default: str | None = None, **values: Any) -> str:
            return texts.get(lang, message_id, default, **values)

        menu = s.get("menu")
        current = next((c["name"] for c in menu["categories"] if c["current"]), "") \
            if menu else ""
        pay = s.get("pay") or {}
        expires_at = pay.get("expires_at")
        return {
            "s": s, "t": t, "html_lang": HTML_LANG[lang], "other_lang": OTHER[lang],
            "other_html_lang": HTML_LANG[OTHER[lang]], "current_category_name": current,
            "enroll_offered": self._enroll_offered,
            "qr_svg": Markup(pay["qr_svg"]) if pay.get("qr_svg") else "",
            "qr_seconds_left": (None if expires_at is None
                                else max(0, int(expires_at - self._wall() + 0.999))),
            "receipt_qr": Markup(s["receipt_qr"]) if s.get("receipt_qr") else "",
            "attract_picture": self._art["attract"], "eat_in_picture": self._art["eat_in"],
            "take_out_picture": self._art["take_out"],
        }
