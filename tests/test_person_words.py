"""The report page says every code the back end sends in the reader's language.

Every factor, reason, restriction, outcome, event type, status and source code that the back end
or a terminal can put in a person's report has words in Chinese and English, so the back end's
English sentence (the fallback for a code the catalogue does not know) never shows in practice.
The English words rebuild the back end's own sentences exactly; the Chinese ones hold no English.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from backend.person_report import DECISION_EVENTS, REFERENCE_SOURCE, factor_bodies
from backend.scoring import RULES, capped_points, counted_limit, factor_text, score_from_counts
from backend.seed import DEMO_SUBJECTS
from payments.clients.person import PersonReport, ReportFactor, parse_report
from payments.policy import NO_FACTOR_CODES, RESTRICTION_TEXTS, DepositRules
from terminal.kiosk.web.person_words import PersonWords
from terminal.kiosk.web.texts import LANGUAGES, Texts, load_texts

ROOT = Path(__file__).resolve().parent.parent
# Latin words of two letters or more: English left on a Chinese page (codes, ids and units such
# as "CNY" are checked apart, in the page tests).
_ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def texts() -> Texts:
    return load_texts()


def factor_codes() -> set[str]:
    return {rule.factor for rule in RULES}


def reason_codes() -> set[str]:
    """Every reason code a deposit decision can log: scored factors, the no-score reasons,
    restrictions (the policy's, the default declining ones, the seeded ones) and the codes the
    bike unit adds itself (grepped from its source)."""
    codes = factor_codes() | set(NO_FACTOR_CODES) | set(RESTRICTION_TEXTS)
    codes |= set(DepositRules().decline_restrictions)
    codes |= {r.code for s in DEMO_SUBJECTS for r in s.restrictions}
    unit = (ROOT / "terminal" / "bikelock" / "unit.py").read_text(encoding="utf-8")
    added = set(re.findall(r'\{"code": "([a-z_]+)"', unit))
    assert added == {"deposit_declined"}  # the grep still finds what the unit adds
    return codes | added


def every_message_id() -> set[str]:
    ids = {f"person.factor.{c}" for c in factor_codes()}
    ids |= {"person.factor.added", "person.factor.cost", "person.factor.capped"}
    ids |= {f"person.reason.{c}" for c in reason_codes()}
    ids |= {f"person.outcome.{o}" for o in DECISION_EVENTS.values()}
    ids |= {"person.outcome.with_deposit", f"person.source.{REFERENCE_SOURCE}"}
    ids |= {f"person.type.{rule.event_type}" for rule in RULES}
    ids |= {f"person.status.{s}" for s in ("counted", "capped", "disputed", "corrected")}
    ids |= {f"person.purpose.{p}" for p in ("deposit_decision", "smile_to_pay")}
    return ids


def test_every_code_the_back_end_can_send_has_words_in_both_languages(texts: Texts) -> None:
    ids = every_message_id()
    assert len(ids) > 30
    missing = sorted(f"{lang}:{i}" for i in ids for lang in LANGUAGES if not texts.has(lang, i))
    assert missing == []
    english_left = sorted(i for i in ids if _ENGLISH_WORD.search(
        re.sub(r"\{\w+\}", "", texts.get("zh", i))) and "ScanPay" not in texts.get("zh", i))
    assert english_left == []
    assert all(_CJK.search(texts.get("zh", i)) for i in ids)


def report_with(counts: dict[str, int], **extra: object) -> PersonReport:
    """A report body as the back end builds it (its own scorecard and factor bodies), read by
    the page's client."""
    score, factors = score_from_counts(counts)
    body = {"subject_id": "rider-x", "score": score, "range": [350, 950], "baseline": 600,
            "as_of": "2026-11-30T08:00:00Z", "source": "ScanPay reference back end",
            "source_code": REFERENCE_SOURCE, "factors": factor_bodies(factors, counts),
            "events": [], "restrictions": [], "decisions": [], "disputes": [], **extra}
    return parse_report(body, None)


@pytest.mark.parametrize("rule", RULES, ids=[r.factor for r in RULES])
def test_english_words_are_the_back_ends_sentence_and_chinese_has_no_english(
        texts: Texts, rule) -> None:
    for n in sorted({1, 2, counted_limit(rule), counted_limit(rule) + 1,
                     counted_limit(rule) + 7}):
        report = report_with({rule.factor: n})
        (factor,) = report.factors
        assert factor.count == n and factor.counted_limit == counted_limit(rule)
        assert PersonWords(texts, "en", report).factor(factor) == factor_text(rule, n)
        chinese = PersonWords(texts, "zh", report).factor(factor)
        assert _CJK.search(chinese) and not _ENGLISH_WORD.search(chinese), chinese
        assert str(n) in chinese and str(abs(factor.points)) in chinese
        if n > counted_limit(rule):
            assert str(abs(rule.cap)) in chinese and "最多" in chinese


def _factor(rule, n: int) -> ReportFactor:
    """The factor the back end would send for ``n`` events of ``rule`` (any n, 0 included)."""
    return ReportFactor(rule.factor, factor_text(rule, n), capped_points(rule, n), (), n,
                        rule.cap, counted_limit(rule))


@pytest.mark.parametrize("rule", RULES, ids=[r.factor for r in RULES])
def test_english_says_one_event_and_one_point_in_the_singular_and_matches_for_any_count(
        texts: Texts, rule) -> None:
    words = PersonWords(texts, "en", None)
    for n in (0, 1, 2, counted_limit(rule), counted_limit(rule) + 1):
        assert words.factor(_factor(rule, n)) == factor_text(rule, n), n
    one, two = factor_text(rule, 1), factor_text(rule, 2)
    assert rule.describe(1) != rule.describe(2)
    assert one.startswith(rule.describe(1) + ":") and two.startswith(rule.describe(2) + ":")
    # The plural noun of the description ("bikes", "payments", "violations") only for 2.
    plural = {w for w in rule.describe(2).split() if w.endswith("s")} - \
        set(rule.describe(1).split())
    assert plural and not plural & set(one.split()), (one, two)
    # A rule worth one point each says "1 point" (none ships, but a newer back end may).
    single = replace(rule, points_each=1 if rule.points_each > 0 else -1)
    text = factor_text(single, 1)
    assert text.endswith(" 1 point") and words.factor(_factor(single, 1)) == text
    assert factor_text(single, 2).endswith(" 2 points")
    assert words.factor(_factor(single, 2)) == factor_text(single, 2)
    chinese = PersonWords(texts, "zh", None)
    for n in (0, 1, 2):
        said = chinese.factor(_factor(rule, n))
        assert f" {n} 次" in said and not _ENGLISH_WORD.search(said), said


def test_reasons_outcomes_and_source_are_said_from_their_codes(texts: Texts) -> None:
    decisions = [{"id": "evt_1", "outcome": "required", "time": "2026-11-30T08:00:00Z",
                  "terminal_id": "bike-0042", "reason_codes": ["parking_violations"],
                  "amount_minor": 19900, "currency": "CNY"},
                 {"id": "evt_2", "outcome": "declined", "time": "2026-11-30T08:01:00Z",
                  "terminal_id": "bike-0042", "reason_codes": ["court_blacklist"]}]
    report = report_with({"parking_violations": 4}, deposit_decisions=decisions)
    zh, en = PersonWords(texts, "zh", report), PersonWords(texts, "en", report)
    held, declined = report.deposit_decisions
    assert zh.outcome(held) == "需要押金：冻结押金 199.00 CNY"
    assert en.outcome(held) == "Deposit required: 199.00 CNY held"
    assert zh.outcome(declined) == "拒绝骑行" and en.outcome(declined) == "Ride declined"
    for code in reason_codes():
        assert _CJK.search(zh.reason(code)) and not _ENGLISH_WORD.search(zh.reason(code)), code
        assert en.reason(code) != code
    assert zh.source() == "ScanPay 参考后端"
    assert en.source() == "ScanPay reference back end"


def test_a_code_the_catalogue_does_not_know_falls_back_to_the_back_ends_english(
        texts: Texts) -> None:
    from payments.clients.models import Restriction

    body = {"code": "noise_complaints", "text": "3 noise complaints: cost 30 points",
            "points": -30, "count": 3, "cap_points": -90, "counted_limit": 9, "event_ids": []}
    report = report_with({}, factors=[body], restrictions=[
        {"id": "rst_1", "code": "operator_hold", "description": "Held by the operator",
         "origin": None}])
    zh = PersonWords(texts, "zh", report)
    assert zh.factor(report.factors[0]) == "3 noise complaints: cost 30 points"
    restriction = report.restrictions[0]
    assert isinstance(restriction, Restriction)
    assert zh.restriction(restriction) == "Held by the operator"
    assert zh.reason("operator_hold") == "Held by the operator"
    assert zh.reason("noise_complaints") == "3 noise complaints: cost 30 points"
    assert zh.reason("never_heard_of") == "never_heard_of"
    named = parse_report({**report.to_json(), "source": "Shanghai Bikes", "source_code": None},
                         None)
    assert PersonWords(texts, "zh", named).source() == "Shanghai Bikes"
