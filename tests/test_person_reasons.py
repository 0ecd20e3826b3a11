"""Every decision a person can receive names at most four scored factors (or a restriction's
origin): over all seeded people and every branch of the deposit policy, against the reference
back end's real scorecards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.seed import DEMO_SUBJECTS
from backend.server import BackendServer
from backend.settings import BackendSettings
from hardware.emulated.clock import ManualClock
from hardware.emulated.lock import EmulatedLock
from payments.clients import ScoreClient, ServiceSettings
from payments.clients.models import ScoreReport
from payments.clients.person import PersonClient
from payments.policy import (
    MAX_REASONS,
    NO_FACTOR_CODES,
    DepositDecision,
    DepositRules,
    decide_deposit,
)
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.unit import Notice
from terminal.config import default_config_path, load_config
from terminal.emulator.session import Emulator
from terminal.kiosk.web.person import PersonPages
from terminal.kiosk.web.texts import load_texts

TERMINAL = "emu-bike-0001"

# Every branch of decide_deposit: (name, rules, offline, report given).
BRANCHES: tuple[tuple[str, DepositRules, bool, bool], ...] = (
    ("default rules", DepositRules(), False, True),
    ("waived on score", DepositRules(waive_at_score=350), False, True),
    ("required on score", DepositRules(waive_at_score=951), False, True),
    ("declined below the minimum", DepositRules(waive_at_score=951, decline_below_score=950),
     False, True),
    ("restriction ignored", DepositRules(decline_restrictions=()), False, True),
    ("offline: deposit", DepositRules(offline_rule="require_deposit"), True, True),
    ("offline: decline", DepositRules(offline_rule="decline"), True, True),
    ("offline: waive", DepositRules(offline_rule="waive"), True, True),
    ("no score on record", DepositRules(), False, False),
)


@pytest.fixture(scope="module")
def reports() -> Iterator[dict[str, ScoreReport]]:
    with BackendServer(BackendSettings()) as server, ScoreClient(
            ServiceSettings(url=server.url, api_key=server.api_key_for(TERMINAL))) as scores:
        yield {s.subject_id: scores.get_score(s.subject_id) for s in DEMO_SUBJECTS}


def check_reasons(decision: DepositDecision, report: ScoreReport | None) -> None:
    """The rule of issue #13: <= 4 reasons, each a scored factor (with its events, costliest
    first) or a restriction with its origin; only a decision with no score to explain names
    neither."""
    assert 1 <= len(decision.reasons) <= MAX_REASONS
    assert decision.summary is not None and decision.summary.text.endswith(".")
    factors = {f.code: f for f in report.factors} if report else {}
    restrictions = {r.code: r for r in report.restrictions} if report else {}
    for reason in decision.reasons:
        assert reason.text.endswith(".")
        if reason.code in factors:
            factor = factors[reason.code]
            assert reason.points == factor.points != 0
            assert reason.event_ids == factor.event_ids and reason.event_ids
            assert f"{factor.points:+d}" in reason.text
        elif reason.code in restrictions:
            origin = restrictions[reason.code].origin
            assert origin is not None and reason.origin == origin.describe()
            assert origin.reference in reason.text
        else:
            assert reason.code in NO_FACTOR_CODES, reason
            if reason.code == "baseline_score":
                assert report is not None and not any(f.points for f in report.factors)
            else:
                assert report is None or decision.summary == reason
    points = [r.points for r in decision.reasons if r.points is not None]
    if decision.outcome == "waived" and points and all(p > 0 for p in points):
        assert points == sorted(points, reverse=True)  # what helped most first
    elif points and all(p < 0 for p in points):
        assert points == sorted(points)  # what cost most first


@pytest.mark.parametrize(("branch", "rules", "offline", "given"), BRANCHES,
                         ids=[b[0] for b in BRANCHES])
@pytest.mark.parametrize("subject", [s.subject_id for s in DEMO_SUBJECTS])
def test_every_decision_names_at_most_four_scored_factors(
        reports: dict[str, ScoreReport], subject: str, branch: str, rules: DepositRules,
        offline: bool, given: bool) -> None:
    report = reports[subject] if given else None
    decision = decide_deposit(rules, report, offline=offline)
    check_reasons(decision, None if offline else report)


def test_the_branches_reach_every_outcome(reports: dict[str, ScoreReport]) -> None:
    seen = {(decide_deposit(rules, reports[s.subject_id] if given else None,
                            offline=offline).outcome, decide_deposit(
                                rules, reports[s.subject_id] if given else None,
                                offline=offline).headline.code)
            for _, rules, offline, given in BRANCHES for s in DEMO_SUBJECTS}
    assert {code for _, code in seen} >= {
        "score_above_threshold", "score_below_threshold", "score_below_minimum", "restricted",
        "score_service_offline", "score_unavailable"}
    assert {outcome for outcome, _ in seen} == {"waived", "required", "declined"}


def test_a_report_with_events_gives_them_to_each_factor(
        reports: dict[str, ScoreReport]) -> None:
    low = reports["rider-low"]
    assert sum(f.points for f in low.factors) + low.baseline == low.score
    decision = decide_deposit(DepositRules(), low, offline=False)
    assert decision.outcome == "required"
    assert decision.reason_codes[0] == "parking_violations"  # the costliest factor first
    assert len(decision.reasons[0].event_ids) == 4


def test_the_court_list_entry_is_the_reason_of_a_blacklisted_decline(
        reports: dict[str, ScoreReport]) -> None:
    decision = decide_deposit(DepositRules(), reports["rider-blacklisted"], offline=False)
    assert decision.outcome == "declined" and decision.reason_codes == ("court_blacklist",)
    assert "Origin: " in decision.reasons[0].text and "reference" in decision.reasons[0].text


# -- what the bike unit shows and logs ---------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    config = load_config(default_config_path("emulator"))
    with Emulator(config, state_dir=tmp_path_factory.mktemp("backend")) as emu:
        yield emu


@pytest.mark.parametrize("subject", [s.subject_id for s in DEMO_SUBJECTS])
def test_the_bike_shows_and_logs_the_reasons_the_policy_gave(
        emulator: Emulator, tmp_path: Path, subject: str) -> None:
    config = load_config(default_config_path("emulator"))
    notices: list[Notice] = []
    with BikeLockStack(config, emulator.endpoints(), state_dir=tmp_path,
                       clock=ManualClock(time.time()), lock=EmulatedLock(),
                       on_notice=notices.append) as stack, \
            ScoreClient(emulator.endpoints().score) as scores:
        report = scores.get_score(subject)
        stack.unit.present_code(emulator.wallet_code(subject))
        rental = stack.unit.rental or stack.unit.last
        assert rental is not None
        expected = decide_deposit(config.deposit, report, offline=False)
        # The screen (the decision notice and the ride's record) carries the policy's reasons.
        decided = next(n for n in notices if "summary" in n.data)
        assert decided.data["reasons"] == [r.to_json() for r in expected.reasons]
        assert rental.reasons == decided.data["reasons"]
        assert rental.summary == expected.headline.to_json()
        check_reasons(expected, report)
        # The decision's event carries the same codes (codes only: no words, no numbers).
        logged = {p.event.type: dict(p.event.attributes) for p in stack.outbox.pending(50)}
        kind = {"waived": "deposit.waived", "required": "deposit.held",
                "declined": "deposit.declined"}.get(expected.outcome)
        if kind is not None:
            assert logged[kind]["reason_codes"] == ",".join(expected.reason_codes)
        if expected.outcome == "declined":
            # Codes only (and the ride's id): the back end takes it and it scores 0.
            assert set(logged[kind]) == {"ride_id", "reason_codes"}
            assert expected.reason_codes and "court_blacklist" in logged[kind]["reason_codes"]
            flushed = stack.uploader.flush(5.0)
            assert flushed.pending == 0 and flushed.rejected == 0, flushed
            assert scores.get_score(subject).score == report.score
            with emulator.server.backend.store.read() as conn:
                stored = conn.execute("SELECT type FROM events WHERE subject_id = ?"
                                      " AND type = 'deposit.declined'", (subject,)).fetchall()
            assert len(stored) >= 1
            # The person's report, and its page on their phone, list the decision's reasons.
            with PersonClient(emulator.endpoints().score) as people:
                token = people.open_session(emulator.wallet_code(subject)).token
                with people.for_token(token) as mine:
                    person = mine.report()
                    html = PersonPages(mine, load_texts()).render("en", token, person)
            shown = [d for d in person.deposit_decisions if d.outcome == "declined"]
            assert shown and shown[0].reason_codes == expected.reason_codes
            assert 'data-outcome="declined"' in html and "Ride declined" in html
            assert '<span class="reason" data-code="court_blacklist">Listed by a court' in html


@pytest.mark.parametrize("subject", ["rider-good", "rider-low"])
def test_the_ride_receipt_repeats_the_reasons_of_the_deposit_decision(
        emulator: Emulator, tmp_path: Path, subject: str) -> None:
    from terminal.bikelock.receipt import receipt_text

    config = load_config(default_config_path("emulator"))
    notices: list[Notice] = []
    lock = EmulatedLock()
    clock = ManualClock(time.time())
    with BikeLockStack(config, emulator.endpoints(), state_dir=tmp_path, clock=clock,
                       lock=lock, on_notice=notices.append) as stack:
        stack.unit.present_code(emulator.wallet_code(subject))
        clock.advance(600)
        lock.close_latch()
        stack.unit.tick()
        stack.unit.settle()
    decided = next(n for n in notices if "summary" in n.data)
    receipt = next(n for n in notices if "receipt" in n.data).data["receipt"]
    assert receipt["summary"] == decided.data["summary"]
    assert receipt["reasons"] == [{k: r[k] for k in ("code", "text", "points") if k in r}
                                  for r in decided.data["reasons"]]
    assert 1 <= len(receipt["reasons"]) <= 4
    assert receipt["fare"] and receipt["minutes"] == 10
    text = receipt_text(receipt)
    for reason in receipt["reasons"]:
        assert f"{reason['text']} [{reason['code']}]" in text
    assert decided.data["summary"]["text"] in text
