"""The Chinese report page in a real headless Chromium carries no English sentence of the back
end: every factor code (with a capped one) and every reason code a deposit decision can log is
shown in Chinese from its code and numbers, and the English the back end sent beside them is
nowhere on the page. axe-core checked, screenshots in both languages.

rider-low's seeded history is topped up through the events API (late returns, a deposit kept,
parking violations past their cap) and deposit decisions carrying every reason code; the page
is the terminals' own report page served on loopback, reading the back end over HTTP.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.context import rfc3339
from payments.clients import ServiceSettings
from payments.clients.person import PersonClient, PersonReport
from payments.paycode import issue_code
from terminal.kiosk.web.person import PersonPages, person_routes
from terminal.kiosk.web.person_words import PersonWords
from terminal.kiosk.web.texts import load_texts
from terminal.web.server import WebServer
from tests.browser import PageFactory, check_axe, screenshot
from tests.test_person_words import reason_codes

SUBJECT = "rider-low"
BIKE = "bike-0555"
# Latin words a Chinese page may carry besides codes and ids: the product's name, the currency
# and time zone, the switch to English, and the terminals' ids.
ALLOWED_LATIN = {"ScanPay", "CNY", "UTC", "English", "bike", "seed", "history"}


@dataclass
class Site:
    server: BackendServer
    page_url: str
    report: PersonReport


def _event(type_: str, when: float, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex}", "schema": 1, "type": type_, "time": rfc3339(when),
            "terminal_id": BIKE, "subject_id": SUBJECT, "attributes": attributes}


def _history(now: float) -> list[dict[str, Any]]:
    """A late return, a deposit kept for damage, parking past its cap, and deposit decisions
    that name every reason code (at most four each, as a terminal logs them)."""
    events = [_event("ride.ended", now - 7200, {"ride_id": "ride-late", "on_time": False}),
              _event("deposit.captured", now - 7100, {"ride_id": "ride-late",
                                                      "reason": "damage"})]
    events += [_event("parking.reported", now - 7000 + i, {"misparked": True})
               for i in range(8)]
    codes = sorted(reason_codes())
    for i in range(0, len(codes), 4):
        kind = ("deposit.held", "deposit.waived", "deposit.declined")[(i // 4) % 3]
        attributes: dict[str, Any] = {"ride_id": f"ride-{i}",
                                      "reason_codes": ",".join(codes[i:i + 4])}
        if kind == "deposit.held":
            attributes.update(amount_minor=19900, currency="CNY", hold_id=f"hold-{i}")
        events.append(_event(kind, now - 600 + i, attributes))
    return events


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    with BackendServer(BackendSettings()) as server:
        bike = {"Authorization": f"Bearer {server.api_key_for(BIKE)}"}
        now = time.time()

        def code() -> str:
            return issue_code(SUBJECT, signing_key=server.backend.signing_key, now=now,
                              ttl_s=60)
        resolved = requests.post(f"{server.url}/v1/payment-codes/resolve", json={"code": code()},
                                 headers={**bike, "Idempotency-Key": uuid.uuid4().hex},
                                 timeout=10)
        assert resolved.status_code == 200, resolved.text  # the bike served the rider
        upload = requests.post(f"{server.url}/v1/events:batch", headers=bike, timeout=10,
                               json={"events": _history(now)})
        assert upload.status_code == 200 and not upload.json()["rejected"], upload.text
        token = requests.post(f"{server.url}/v1/person/sessions", json={"code": code()},
                              timeout=10).json()["token"]
        client = PersonClient(ServiceSettings(url=server.url, api_key=""))
        pages = PersonPages(client, load_texts())
        health = Route("/healthz", lambda _r: PlainTextResponse("ok"))
        app = Starlette(routes=[*person_routes(pages), health])
        web = WebServer(app, name="person-page-test").start()
        try:
            yield Site(server, f"{web.url}/me/{token}", pages.report(token))
        finally:
            web.close()
            pages.close()


def _visible_text_without_codes(page: Any) -> str:
    """The page's visible words with the <code> elements (codes, ids) left out."""
    return str(page.evaluate("""() => {
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        const words = [];
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (!node.parentElement.closest('code, select')) words.push(node.nodeValue);
        }
        return words.join(' ');
    }"""))


def test_the_chinese_report_says_every_factor_and_reason_in_chinese(
        site: Site, page_factory: PageFactory) -> None:
    report = site.report
    codes = {f.code for f in report.factors}
    assert codes == {"on_time_returns", "late_returns", "payment_declines",
                     "deposits_captured", "parking_violations"}
    capped = next(f for f in report.factors if f.code == "parking_violations")
    assert capped.count is not None and capped.counted_limit is not None
    assert capped.count > capped.counted_limit  # the cap sentence is on the page too
    logged = {c for d in report.deposit_decisions for c in d.reason_codes}
    assert logged == reason_codes()
    texts = load_texts()
    zh, en = PersonWords(texts, "zh", report), PersonWords(texts, "en", report)

    phone = page_factory("portrait", locale="zh-CN")
    phone.goto(f"{site.page_url}?lang=zh")
    phone.get_by_role("heading", name="您的信用分报告").wait_for()
    check_axe(phone, "person-report-zh-every-code")
    screenshot(phone, "person-report-zh-every-code", "portrait", full_page=True)
    for factor in report.factors:
        cell = phone.locator(f'#person-factors tr[data-code="{factor.code}"] td').first
        shown = cell.inner_text()
        assert zh.factor(factor) in shown and factor.text not in shown, shown
    spans = phone.locator("#person-deposit-decisions span.reason")
    seen = set()
    for i in range(spans.count()):
        span = spans.nth(i)
        code = str(span.get_attribute("data-code"))
        assert span.inner_text() == zh.reason(code) != en.reason(code)
        seen.add(code)
    assert seen == reason_codes()
    body = _visible_text_without_codes(phone)
    english = {f.text for f in report.factors} | {en.reason(c) for c in reason_codes()}
    english |= {en.outcome(d) for d in report.deposit_decisions} | {report.source}
    assert sorted(e for e in english if e in body) == []
    assert "需要押金：冻结押金 199.00 CNY" in body and "ScanPay 参考后端" in body
    latin = set(re.findall(r"[A-Za-z]{2,}", body)) - ALLOWED_LATIN
    assert latin == set(), latin

    # The English page says the same from the same codes: the back end's own sentences.
    phone.goto(f"{site.page_url}?lang=en")
    check_axe(phone, "person-report-en-every-code")
    screenshot(phone, "person-report-en-every-code", "portrait", full_page=True)
    body = phone.locator("main").inner_text()
    assert all(f.text in body for f in report.factors)
