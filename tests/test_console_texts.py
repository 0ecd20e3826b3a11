"""The console's words: both languages complete, every id the pages use exists, and a request
is shown in the language it asks for (query, then cookie, then the browser's)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources

import pytest
import requests

from backend.console import disputes_view, fleet_view
from backend.console.texts import LANGUAGES, catalogue, pick_language, text
from backend.console.web import REASONS
from backend.server import BackendServer
from backend.settings import BackendSettings
from tests.console_support import sign_in

_USED = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_]+)["']""")
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _template_ids() -> set[str]:
    folder = resources.files("backend.console").joinpath("templates")
    found: set[str] = set()
    for entry in folder.iterdir():
        if entry.name.endswith(".html"):
            found |= {m for m in _USED.findall(entry.read_text(encoding="utf-8"))
                      if not m.endswith("_")}  # "unit.cmd_" ~ name: a family, checked below
    return found


def test_both_languages_have_the_same_messages_and_every_used_one() -> None:
    words = catalogue()
    assert set(words["en"]) == set(words["zh"])
    used = _template_ids() | {f"msg.{r}" for r in REASONS}
    used |= {f"status.{s}" for s in ("sent", "done", "failed", "expired", "refused",
                                     "timed_out")}
    used |= {f"disputes.{s}" for s in disputes_view.STATUSES}
    used |= {f"unit.cmd_{c}" for c in fleet_view.COMMANDS}
    used |= {"dispute.kind_event", "dispute.kind_restriction"}
    used |= {f"state.{s}" for s in fleet_view.MDS_STATES}
    used |= {f"kind.{k}" for k in fleet_view.TELEMETRY_KINDS}
    used |= {f"field.{f}" for f in fleet_view.TELEMETRY_FIELDS}
    assert len(used) > 100
    assert sorted(used - set(words["en"])) == []
    for message_id, english in words["en"].items():
        fields = set(re.findall(r"\{(\w+)\}", english))
        assert fields == set(re.findall(r"\{(\w+)\}", words["zh"][message_id])), message_id
        if message_id not in ("dispute.col_seq", "error.service") and english.isascii():
            assert _CJK.search(words["zh"][message_id]) or message_id == "nav.other_language" \
                or "{" in words["zh"][message_id], message_id


def test_words_fill_their_fields_and_fall_back_to_english() -> None:
    assert text("en", "fleet.caption", n=3) == "3 vehicle(s)"
    assert text("zh", "fleet.caption", n=3) == "3 辆车"
    assert text("zh", "no.such_id") == "no.such_id"


def test_the_language_comes_from_the_query_then_the_cookie_then_the_browser() -> None:
    assert pick_language("zh", "en", "en-GB") == "zh"
    assert pick_language(None, "zh", "en-GB") == "zh"
    assert pick_language("xx", None, "fr-FR, zh-TW;q=0.8, en;q=0.5") == "zh"
    assert pick_language(None, None, "fr-FR") == "en"
    assert set(LANGUAGES) == {"en", "zh"}


@pytest.fixture
def server() -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=lambda: 1_796_400_000.0)) as srv:
        yield srv


def test_pages_follow_the_chosen_language_and_remember_it(server) -> None:
    http = sign_in(server)
    zh = http.get(f"{server.url}/console/fleet?lang=zh", timeout=5)
    assert '<html lang="zh-CN">' in zh.text and "车队" in zh.text and "退出登录" in zh.text
    assert "scanpay_console_lang=zh" in zh.headers["set-cookie"]
    again = http.get(f"{server.url}/console/disputes", timeout=5)
    assert '<html lang="zh-CN">' in again.text and "审核中" in again.text
    assert 'href="/console/disputes?lang=en"' in again.text
    refused = http.post(f"{server.url}/console/logout", data={"csrf": "x"}, timeout=5)
    assert refused.status_code == 403 and "CSRF 令牌缺失或错误" in refused.text
    browser_zh = requests.get(f"{server.url}/console/login",
                              headers={"Accept-Language": "zh-CN,zh;q=0.9"}, timeout=5)
    assert "请使用运营人员登录链接" in browser_zh.text
    link = requests.get(f"{server.url}/console/link?token=broken&lang=zh", timeout=5)
    assert "此登录链接已损坏或不完整" in link.text
