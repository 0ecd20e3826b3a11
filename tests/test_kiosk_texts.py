"""The kiosk screen's words: every message id the templates and the flows can ask for exists in
Chinese and English.

Ids are found where they are made: ``t("...")`` literals in the templates, the notice and error
codes the flow sets, the prompt ids of the payment views, and the reason codes the payment and
enrollment code can end with (``Reason("...")`` and friends, grepped from the source).

Deliberately shown with the flow's own English words: a failure whose code is an API error the
kiosk does not expect (``http_503``, ``unknown_subject``, ``payer_not_proved``, ...). Those codes
are open-ended, so the screen falls back to the sentence the payment code wrote (see ``qr_pay``:
"The payment service did not answer ..."). The client's own transport codes (``network_error``,
``timeout``, ``deadline_exceeded``) have words.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from terminal.kiosk.catalogue import default_catalogue_path, load_catalogue
from terminal.kiosk.enroll_desk import SHOWN_REASONS
from terminal.kiosk.web.texts import LANGUAGES, Texts, load_texts

ROOT = Path(__file__).resolve().parent.parent
KIOSK = ROOT / "terminal" / "kiosk"
TEMPLATES = resources.files("terminal.kiosk.web").joinpath("templates")
# Reasons the screen never shows: a pending poll's note and the success notes (the receipt
# screen shows the order, not reasons).
NOT_SHOWN = {"not_paid_yet", "wallet_code_paid", "merchant_qr_paid"}


@pytest.fixture(scope="module")
def texts() -> Texts:
    return load_texts()


def source(*parts: str) -> str:
    return (ROOT.joinpath(*parts)).read_text(encoding="utf-8")


def missing(texts: Texts, ids: set[str]) -> list[str]:
    return sorted(f"{lang}:{i}" for i in ids for lang in LANGUAGES if not texts.has(lang, i))


def template_literals() -> set[str]:
    ids: set[str] = set()
    for template in TEMPLATES.iterdir():
        if template.name.endswith(".html"):
            ids |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", template.read_text()))
    return {i for i in ids if not i.endswith(".")}  # "reason." ~ code: see the tests below


def test_both_languages_have_the_same_messages(texts: Texts) -> None:
    assert set(texts.messages["zh"]) == set(texts.messages["en"])
    empty = [f"{lang}:{k}" for lang in LANGUAGES for k, v in texts.messages[lang].items()
             if not v.strip()]
    assert empty == []


def test_every_literal_message_id_of_the_templates_exists(texts: Texts) -> None:
    ids = template_literals()
    assert len(ids) > 50  # the grep found the templates' texts
    assert missing(texts, ids) == []


def test_placeholders_match_between_languages(texts: Texts) -> None:
    fields = re.compile(r"\{(\w+)\}")
    differ = [k for k, en in texts.messages["en"].items()
              if set(fields.findall(en)) != set(fields.findall(texts.messages["zh"][k]))]
    assert differ == []


def test_every_notice_the_flow_sets_has_words(texts: Texts) -> None:
    flow = source("terminal", "kiosk", "flow.py")
    notices = set(re.findall(r'notice = "([a-z_]+)"', flow))
    assert {"sold_out", "added", "cart_empty", "sold_out_in_cart"} <= notices
    # Cart codes a quantity change can end with (an unknown line is refused before the cart).
    notices |= {"quantity_limit", "sold_out"}
    assert missing(texts, {f"notice.{n}" for n in notices}) == []


def test_every_item_error_has_words(texts: Texts) -> None:
    cart = source("terminal", "kiosk", "cart.py")
    codes = set(re.findall(r'CartError\(\s*"([a-z_]+)"', cart))
    codes |= set(re.findall(r'else "([a-z_]+)"', cart))  # "choice_required" if ... else "too_few"
    codes |= set(re.findall(r'item_errors = \{[^}]*"([a-z_]+)"\}',
                            source("terminal", "kiosk", "flow.py")))
    assert {"choice_required", "too_few", "too_many", "sold_out", "cart_full"} <= codes
    assert missing(texts, {f"error.{c}" for c in codes}) == []


def reason_codes() -> set[str]:
    codes: set[str] = set()
    for path in [*KIOSK.glob("*.py"), ROOT / "payments" / "paycode.py"]:
        text = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r'Reason\(\s*"([a-z_]+)"', text))
        codes |= set(re.findall(r'_reason\(\s*"([a-z_]+)"', text))
        codes |= set(re.findall(r'_rejected\(\s*\w+,\s*"([a-z_]+)"', text))
        codes |= set(re.findall(r'_fail\(\s*"([a-z_]+)"', text))
        codes |= set(re.findall(r'^CODE_[A-Z_]+ = "([a-z_]+)"', text, re.MULTILINE))
    # Smile to Pay refused for this order: the risk rule's reasons end the attempt.
    policy = source("payments", "smile_policy.py")
    codes |= set(re.findall(r'DigitsDecision\("unavailable", \(_r\(\s*"([a-z_]+)"', policy))
    # The gateway could not be asked (wallet code and screen QR keep the client's code).
    http = source("payments", "clients", "http.py")
    codes |= set(re.findall(r'_unavailable\(\s*"([a-z_]+)"', http))
    backend = source("backend", "routes_codes.py")
    codes |= set(re.findall(r'^\s+"(code_[a-z_]+)": \d{3},', backend, re.MULTILINE))
    codes |= set(SHOWN_REASONS) | {"enroll_failed", "liveness_interrupted", "payment_declined"}
    return codes - NOT_SHOWN


def test_every_reason_a_payment_or_enrollment_can_end_with_has_words(texts: Texts) -> None:
    codes = reason_codes()
    assert {"qr_expired", "scheme_not_accepted", "code_already_used", "spoof_suspected",
            "cancelled", "no_code_seen", "code_unreadable", "face_changed",
            "order_above_face_limit", "network_error", "timeout"} <= codes
    assert missing(texts, {f"reason.{c}" for c in codes}) == []


def test_every_prompt_of_the_payment_screens_has_words(texts: Texts) -> None:
    paying = source("terminal", "kiosk", "paying.py")
    ids = set(re.findall(r'"((?:face|pay|qr|wallet)\.[a-z_.]+)"', paying))
    ids |= {"face.digits.last4", "face.digits.all"}
    config = load_catalogue(default_catalogue_path())  # the menu loads: texts are per screen
    assert config.items
    from terminal.config import default_config_path, load_config

    face = load_config(default_config_path("kiosk")).face
    assert face is not None
    ids |= {f"face.action.{action}" for action in face.challenges}
    ids |= {f"face.action.{a}" for a in ("smile", "blink", "turn_left", "turn_right")}
    assert {"face.look", "face.checking", "pay.voided", "qr.scan", "wallet.show"} <= ids
    assert missing(texts, ids) == []


def test_per_value_texts_of_the_templates_exist(texts: Texts) -> None:
    ids = {f"next.{m}" for m in ("face", "wallet", "qr")}
    ids |= {f"pay.{m}" for m in ("face", "wallet", "qr")}
    ids |= {f"pay.{m}_sub" for m in ("face", "wallet", "qr")}
    ids |= {f"paid.with.{m}" for m in ("face", "wallet", "qr")}
    ids |= {f"paid.{d}" for d in ("eat_in", "take_out")}
    ids |= {f"staff.status.{s}" for s in ("open", "paid", "failed", "voided", "refunded")}
    ids |= {f"staff.msg.{m}" for m in ("saved", "refunded", "already_refunded")}
    assert missing(texts, ids) == []


def test_an_unknown_id_shows_the_flows_words_or_the_id(texts: Texts) -> None:
    assert texts.get("zh", "reason.http_503", "The payment service did not answer") == \
        "The payment service did not answer"
    assert texts.get("en", "no.such.id") == "no.such.id"
    assert texts.get("en", "qr.expires", n=5) != texts.get("en", "qr.expires")
